/* Rendering argument and return values into a bounded text buffer, in the
 * traced thread with the GIL held (the values are only valid there).
 *
 * TRACE_FUNC_PRIMITIVES renders exact built-in types natively and never runs
 * user code: exact-type checks only, so subclasses (whose __repr__ could be
 * anything) appear as <TypeName 0xaddr>.  TRACE_FUNC_REPR calls repr(),
 * bounded in length; the caller saves the in-flight exception around it. */
#ifndef IT_RENDER_H
#define IT_RENDER_H

#include "it_common.h"
#include <stdarg.h>
#include <stdio.h>

#define IT_STR_MAX 64        /* characters of a str/bytes shown */
#define IT_REPR_MAX 160      /* characters of a repr() shown */
#define IT_ITEMS_MAX 8       /* items of a list/tuple/dict shown */
#define IT_NEST_MAX 3        /* container nesting rendered */

typedef struct {
    char *p;
    size_t len, cap;
} it_buf;

static inline void it_buf_put(it_buf *b, const char *s, size_t n) {
    size_t room = b->cap - b->len;
    if (n > room)
        n = room;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* End the current value; truncates it if the buffer is full. */
static inline void it_buf_terminate(it_buf *b) {
    if (b->len == b->cap)
        b->len--;
    b->p[b->len++] = '\0';
}

static inline void it_buf_puts(it_buf *b, const char *s) { it_buf_put(b, s, strlen(s)); }

static inline void it_buf_printf(it_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void it_buf_printf(it_buf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        it_buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Append one code point as UTF-8, escaping what would break a one-line
 * record: control characters, the quote, backslash and lone surrogates. */
static inline void it_put_codepoint(it_buf *b, Py_UCS4 c, char quote) {
    char tmp[12];
    if (c == '\\' || (quote && c == (Py_UCS4)quote)) {
        tmp[0] = '\\';
        tmp[1] = (char)c;
        it_buf_put(b, tmp, 2);
    } else if (c == '\n') {
        it_buf_put(b, "\\n", 2);
    } else if (c == '\r') {
        it_buf_put(b, "\\r", 2);
    } else if (c == '\t') {
        it_buf_put(b, "\\t", 2);
    } else if (c < 0x20 || c == 0x7f) {
        it_buf_printf(b, "\\x%02x", (unsigned)c);
    } else if (c < 0x80) {
        tmp[0] = (char)c;
        it_buf_put(b, tmp, 1);
    } else if (c < 0x800) {
        tmp[0] = (char)(0xc0 | (c >> 6));
        tmp[1] = (char)(0x80 | (c & 0x3f));
        it_buf_put(b, tmp, 2);
    } else if (c >= 0xd800 && c <= 0xdfff) {
        it_buf_printf(b, "\\u%04x", (unsigned)c);
    } else if (c < 0x10000) {
        tmp[0] = (char)(0xe0 | (c >> 12));
        tmp[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        tmp[2] = (char)(0x80 | (c & 0x3f));
        it_buf_put(b, tmp, 3);
    } else {
        tmp[0] = (char)(0xf0 | (c >> 18));
        tmp[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        tmp[2] = (char)(0x80 | ((c >> 6) & 0x3f));
        tmp[3] = (char)(0x80 | (c & 0x3f));
        it_buf_put(b, tmp, 4);
    }
}

/* Up to `max` characters of a str; returns the full length. */
static inline Py_ssize_t it_put_str_chars(it_buf *b, PyObject *s, Py_ssize_t max, char quote) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < n && i < max; i++)
        it_put_codepoint(b, PyUnicode_READ(kind, data, i), quote);
    return n;
}

static inline void it_put_len_mark(it_buf *b, Py_ssize_t n) {
    it_buf_printf(b, "... <len=%zd>", n);
}

static void it_render_primitive(it_buf *b, PyObject *o, int nest);

static inline void it_render_sequence(it_buf *b, PyObject *o, int nest, const char *open,
                                      const char *close) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject **items = PySequence_Fast_ITEMS(o);
    it_buf_puts(b, open);
    for (Py_ssize_t i = 0; i < n && i < IT_ITEMS_MAX; i++) {
        if (i)
            it_buf_put(b, ", ", 2);
        it_render_primitive(b, items[i], nest + 1);
    }
    if (n == 1 && PyTuple_CheckExact(o))
        it_buf_put(b, ",", 1);
    if (n > IT_ITEMS_MAX) {
        it_buf_put(b, ", ", 2);
        it_put_len_mark(b, n);
    }
    it_buf_puts(b, close);
}

static void it_render_primitive(it_buf *b, PyObject *o, int nest) {
    if (o == Py_None) {
        it_buf_put(b, "None", 4);
    } else if (o == Py_True) {
        it_buf_put(b, "True", 4);
    } else if (o == Py_False) {
        it_buf_put(b, "False", 5);
    } else if (PyLong_CheckExact(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (!overflow) {
            it_buf_printf(b, "%lld", v);
        } else {
            /* int.__repr__ of an exact int runs no user code. */
            PyObject *r = PyObject_Repr(o);
            if (r) {
                Py_ssize_t n = it_put_str_chars(b, r, IT_STR_MAX, 0);
                if (n > IT_STR_MAX)
                    it_put_len_mark(b, n);
                Py_DECREF(r);
            } else {
                PyErr_Clear();
                it_buf_put(b, "<int>", 5);
            }
        }
    } else if (PyFloat_CheckExact(o)) {
        char *s = PyOS_double_to_string(PyFloat_AS_DOUBLE(o), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (s) {
            it_buf_puts(b, s);
            PyMem_Free(s);
        } else {
            PyErr_Clear();
            it_buf_put(b, "<float>", 7);
        }
    } else if (PyUnicode_CheckExact(o)) {
        it_buf_put(b, "'", 1);
        Py_ssize_t n = it_put_str_chars(b, o, IT_STR_MAX, '\'');
        it_buf_put(b, "'", 1);
        if (n > IT_STR_MAX)
            it_put_len_mark(b, n);
    } else if (PyBytes_CheckExact(o)) {
        Py_ssize_t n = PyBytes_GET_SIZE(o);
        const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(o);
        it_buf_put(b, "b'", 2);
        for (Py_ssize_t i = 0; i < n && i < IT_STR_MAX; i++) {
            unsigned c = s[i];
            if (c == '\\' || c == '\'') {
                char t[2] = {'\\', (char)c};
                it_buf_put(b, t, 2);
            } else if (c >= 0x20 && c < 0x7f) {
                char t = (char)c;
                it_buf_put(b, &t, 1);
            } else {
                it_buf_printf(b, "\\x%02x", c);
            }
        }
        it_buf_put(b, "'", 1);
        if (n > IT_STR_MAX)
            it_put_len_mark(b, n);
    } else if ((PyList_CheckExact(o) || PyTuple_CheckExact(o) || PyDict_CheckExact(o)) &&
               nest >= IT_NEST_MAX) {
        it_buf_puts(b, PyList_CheckExact(o) ? "[...]" : PyTuple_CheckExact(o) ? "(...)" : "{...}");
    } else if (PyList_CheckExact(o)) {
        it_render_sequence(b, o, nest, "[", "]");
    } else if (PyTuple_CheckExact(o)) {
        it_render_sequence(b, o, nest, "(", ")");
    } else if (PyDict_CheckExact(o)) {
        Py_ssize_t pos = 0, i = 0, n = PyDict_GET_SIZE(o);
        PyObject *k, *v;
        it_buf_put(b, "{", 1);
        while (i < IT_ITEMS_MAX && PyDict_Next(o, &pos, &k, &v)) {
            if (i++)
                it_buf_put(b, ", ", 2);
            it_render_primitive(b, k, nest + 1);
            it_buf_put(b, ": ", 2);
            it_render_primitive(b, v, nest + 1);
        }
        if (n > IT_ITEMS_MAX) {
            it_buf_put(b, ", ", 2);
            it_put_len_mark(b, n);
        }
        it_buf_put(b, "}", 1);
    } else {
        it_buf_printf(b, "<%.60s %p>", Py_TYPE(o)->tp_name, (void *)o);
    }
}

/* repr() bounded; a failing __repr__ yields <repr failed: ExcType>.  The
 * caller has saved the in-flight exception, so clearing here is safe. */
static inline void it_render_repr(it_buf *b, PyObject *o) {
    PyObject *r = PyObject_Repr(o);
    if (!r) {
        PyObject *t = PyErr_Occurred();
        it_buf_printf(b, "<repr failed: %.60s>",
                      t && PyType_Check(t) ? ((PyTypeObject *)t)->tp_name : "?");
        PyErr_Clear();
        return;
    }
    Py_ssize_t n = it_put_str_chars(b, r, IT_REPR_MAX, 0);
    if (n > IT_REPR_MAX)
        it_put_len_mark(b, n);
    Py_DECREF(r);
}

/* Render one value as a NUL-terminated string appended to `b`. */
static inline void it_render_value(it_buf *b, PyObject *o, int level) {
    if (level >= IT_TRACE_FUNC_REPR)
        it_render_repr(b, o);
    else
        it_render_primitive(b, o, 0);
    it_buf_terminate(b);
}

#endif
