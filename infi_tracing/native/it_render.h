/* Rendering argument and return values into a bounded text buffer, in the
 * traced thread with the GIL held (the values are only valid there).
 *
 * The text is what repr() gives, as is (UTF-8): escaping for text outputs
 * happens where they are written (it_format.h), so JSON and Python sinks
 * carry the exact repr.  Two exceptions, since a record cannot hold them: a
 * lone surrogate shows as \udXXX and a NUL (which ends a value in the
 * record) as \x00.
 *
 * Built-in values are rendered natively, bounded in work as well as in
 * length: at most IT_ITEMS_MAX items, IT_NEST_MAX levels, and a prefix of a
 * str/bytes.  TRACE_FUNC_PRIMITIVES renders exact built-in types only and
 * never runs user code, so subclasses (whose __repr__ could be anything)
 * appear as <TypeName 0xaddr>.  TRACE_FUNC_REPR renders built-ins the same
 * way (and str/bytes/list/tuple/dict subclasses that keep the built-in's
 * __repr__) and calls repr() for everything else, inside containers too; the
 * caller saves the in-flight exception around it.  A dict's value whose key
 * is on the deny-list renders as '<redacted>' (it_redact.h), nested dicts
 * too, without looking at the value. */
#ifndef IT_RENDER_H
#define IT_RENDER_H

#include "it_common.h"
#include "it_out.h"
#include "it_redact.h"

#define IT_STR_MAX 64        /* characters of a str/bytes shown (PRIMITIVES) */
#define IT_REPR_MAX 160      /* characters of a str/bytes or of a repr() shown (REPR) */
#define IT_ITEMS_MAX 8       /* items of a list/tuple/dict shown */
#define IT_NEST_MAX 3        /* container nesting rendered */

/* Append one code point as UTF-8.  A lone surrogate has no UTF-8 form and
 * a NUL would end the value in the record: both are written escaped. */
static inline void it_put_utf8(it_out *b, Py_UCS4 c) {
    char tmp[4];
    if (c == 0) {
        it_out_put(b, "\\x00", 4);
    } else if (c < 0x80) {
        tmp[0] = (char)c;
        it_out_put(b, tmp, 1);
    } else if (c < 0x800) {
        tmp[0] = (char)(0xc0 | (c >> 6));
        tmp[1] = (char)(0x80 | (c & 0x3f));
        it_out_put(b, tmp, 2);
    } else if (c >= 0xd800 && c <= 0xdfff) {
        it_out_printf(b, "\\u%04x", (unsigned)c);
    } else if (c < 0x10000) {
        tmp[0] = (char)(0xe0 | (c >> 12));
        tmp[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        tmp[2] = (char)(0x80 | (c & 0x3f));
        it_out_put(b, tmp, 3);
    } else {
        tmp[0] = (char)(0xf0 | (c >> 18));
        tmp[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        tmp[2] = (char)(0x80 | ((c >> 6) & 0x3f));
        tmp[3] = (char)(0x80 | (c & 0x3f));
        it_out_put(b, tmp, 4);
    }
}

/* One character of a str's or bytes' repr, by CPython's rules
 * (unicode_repr, bytes_repr): backslash and the quote escaped, \t \n \r,
 * other ASCII controls and DEL as \xhh; beyond ASCII a str shows printable
 * characters as they are and the others as \xhh, \uhhhh or \Uhhhhhhhh,
 * bytes as \xhh. */
static inline void it_put_repr_char(it_out *b, Py_UCS4 c, Py_UCS4 quote, int is_bytes) {
    char tmp[2] = {'\\', (char)c};
    if (c == quote || c == '\\') {
        it_out_put(b, tmp, 2);
    } else if (c == '\t') {
        it_out_put(b, "\\t", 2);
    } else if (c == '\n') {
        it_out_put(b, "\\n", 2);
    } else if (c == '\r') {
        it_out_put(b, "\\r", 2);
    } else if (c < 0x20 || c == 0x7f || (is_bytes && c > 0x7f)) {
        it_out_printf(b, "\\x%02x", (unsigned)c);
    } else if (c < 0x7f || Py_UNICODE_ISPRINTABLE(c)) {
        it_put_utf8(b, c);
    } else if (c <= 0xff) {
        it_out_printf(b, "\\x%02x", (unsigned)c);
    } else if (c <= 0xffff) {
        it_out_printf(b, "\\u%04x", (unsigned)c);
    } else {
        it_out_printf(b, "\\U%08x", (unsigned)c);
    }
}

static inline void it_put_len_mark(it_out *b, Py_ssize_t n) {
    it_out_printf(b, "... <len=%zd>", n);
}

/* The repr of the first `max` characters of a str (kind/data) or bytes
 * (bytes != NULL) of length n, then "... <len=n>" if it is longer.  The
 * quote is chosen as repr() does, from the part shown.  `squote_always`: escape
 * the single quote whatever the quote is, as bytearray's repr does. */
static inline void it_put_text_repr(it_out *b, int kind, const void *data,
                                    const unsigned char *bytes, Py_ssize_t n, Py_ssize_t max,
                                    int squote_always) {
    Py_ssize_t shown = n < max ? n : max;
    int squote = 0, dquote = 0;
    const void *narrow = bytes ? (const void *)bytes
                               : kind == PyUnicode_1BYTE_KIND ? data : NULL;
    if (narrow) {  /* one byte per character: the common case, searched fast */
        squote = memchr(narrow, '\'', (size_t)shown) != NULL;
        dquote = memchr(narrow, '"', (size_t)shown) != NULL;
    } else {
        for (Py_ssize_t i = 0; i < shown; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            squote |= c == '\'';
            dquote |= c == '"';
        }
    }
    char quote = squote && !dquote ? '"' : '\'';
    if (bytes)
        it_out_put(b, "b", 1);
    it_out_put(b, &quote, 1);
    for (Py_ssize_t i = 0; i < shown; i++) {
        if (narrow) {  /* a run of printable ASCII without quotes or backslashes: as is */
            const unsigned char *p = (const unsigned char *)narrow;
            Py_ssize_t j = i;
            while (j < shown && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '\'' && p[j] != '"' &&
                   p[j] != '\\')
                j++;
            it_out_put(b, (const char *)p + i, (size_t)(j - i));
            if (j == shown)
                break;
            i = j;
        }
        Py_UCS4 c = bytes ? bytes[i] : PyUnicode_READ(kind, data, i);
        if (squote_always && c == '\'')
            it_out_put(b, "\\'", 2);
        else
            it_put_repr_char(b, c, (Py_UCS4)quote, bytes != NULL);
    }
    it_out_put(b, &quote, 1);
    if (n > shown)
        it_put_len_mark(b, n);
}

/* Up to `max` characters of the str `r` (a repr) as they are, then
 * "... <len=N>" if it is longer. */
static inline void it_put_repr_text(it_out *b, PyObject *r, Py_ssize_t max) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(r);
    int kind = PyUnicode_KIND(r);
    const void *data = PyUnicode_DATA(r);
    for (Py_ssize_t i = 0; i < n && i < max; i++)
        it_put_utf8(b, PyUnicode_READ(kind, data, i));
    if (n > max)
        it_put_len_mark(b, n);
}

/* repr() bounded in length (the work is the __repr__'s own); a failing
 * __repr__ yields <repr failed: ExcType>.  The caller has saved the
 * in-flight exception, so clearing here is safe.  `repr` is a built-in's
 * C repr to call directly, or NULL for repr(). */
static inline void it_render_repr(it_out *b, PyObject *o, reprfunc repr) {
    PyObject *r = repr ? repr(o) : PyObject_Repr(o);
    if (!r || !PyUnicode_Check(r)) {
        PyObject *t = PyErr_Occurred();
        it_out_printf(b, "<repr failed: %.60s>",
                      t && PyType_Check(t) ? ((PyTypeObject *)t)->tp_name : "?");
        PyErr_Clear();
        Py_XDECREF(r);
        return;
    }
    it_put_repr_text(b, r, IT_REPR_MAX);
    Py_DECREF(r);
}

/* How a value is rendered natively (IT_K_OTHER: by repr() at REPR, as
 * <TypeName 0xaddr> at PRIMITIVES). */
enum {
    IT_K_OTHER, IT_K_ATOM, IT_K_INT, IT_K_FLOAT, IT_K_STR, IT_K_BYTES, IT_K_BYTEARRAY,
    IT_K_LIST, IT_K_TUPLE, IT_K_DICT, IT_K_SET, IT_K_FROZENSET, IT_K_TYPE, IT_K_C_REPR,
};

/* A subclass of `base` whose repr() is base's, at REPR: it renders as a
 * base value would (no user code runs: only base's C repr would). */
#define IT_KEEPS_REPR(o, base, level) \
    ((level) >= IT_TRACE_FUNC_REPR && Py_TYPE(o)->tp_repr == (base).tp_repr)

static inline int it_kind(PyObject *o, int level) {
    PyTypeObject *t = Py_TYPE(o);
    if (o == Py_None || o == Py_True || o == Py_False)
        return IT_K_ATOM;
    if (t == &PyLong_Type)
        return IT_K_INT;
    if (t == &PyFloat_Type)
        return IT_K_FLOAT;
    if (t == &PyUnicode_Type || (PyUnicode_Check(o) && IT_KEEPS_REPR(o, PyUnicode_Type, level)))
        return IT_K_STR;
    if (t == &PyBytes_Type || (PyBytes_Check(o) && IT_KEEPS_REPR(o, PyBytes_Type, level)))
        return IT_K_BYTES;
    if (t == &PyByteArray_Type)
        return IT_K_BYTEARRAY;
    if (t == &PyList_Type || (PyList_Check(o) && IT_KEEPS_REPR(o, PyList_Type, level)))
        return IT_K_LIST;
    if (t == &PyTuple_Type || (PyTuple_Check(o) && IT_KEEPS_REPR(o, PyTuple_Type, level)))
        return IT_K_TUPLE;
    if (t == &PyDict_Type || (PyDict_Check(o) && IT_KEEPS_REPR(o, PyDict_Type, level)))
        return IT_K_DICT;
    if (t == &PySet_Type)
        return IT_K_SET;
    if (t == &PyFrozenSet_Type)
        return IT_K_FROZENSET;
    /* A class: type.__repr__ only reads the type (its qualname and the
     * __module__ in its dict), whatever the metaclass; at REPR a metaclass's
     * own __repr__ (an Enum's) is the user's choice and is called. */
    if (PyType_Check(o) && (level < IT_TRACE_FUNC_REPR || t->tp_repr == PyType_Type.tp_repr))
        return IT_K_TYPE;
    if (t == &PyComplex_Type || t == &PyRange_Type)
        return IT_K_C_REPR;  /* their repr runs no user code and is short */
    return IT_K_OTHER;
}

static void it_render_primitive(it_out *b, PyObject *o, int nest, int level);

/* Items of a list or tuple.  At REPR a __repr__ may change the list under
 * us: each item is held while it renders and the size read again. */
static inline void it_render_sequence(it_out *b, PyObject *o, int is_list, int nest, int level) {
    Py_ssize_t n = Py_SIZE(o);
    it_out_put(b, is_list ? "[" : "(", 1);
    for (Py_ssize_t i = 0; i < IT_ITEMS_MAX && i < Py_SIZE(o); i++) {
        PyObject *item = is_list ? PyList_GET_ITEM(o, i) : PyTuple_GET_ITEM(o, i);
        Py_INCREF(item);
        if (i)
            it_out_put(b, ", ", 2);
        it_render_primitive(b, item, nest + 1, level);
        Py_DECREF(item);
    }
    if (n == 1 && !is_list)
        it_out_put(b, ",", 1);
    if (n > IT_ITEMS_MAX) {
        it_out_put(b, ", ", 2);
        it_put_len_mark(b, n);
    }
    it_out_put(b, is_list ? "]" : ")", 1);
}

/* Keys and values of a dict, held while they render (see above);
 * PyDict_Next stays in bounds if a __repr__ changes the dict. */
static inline void it_render_dict(it_out *b, PyObject *o, int nest, int level) {
    Py_ssize_t pos = 0, i = 0, n = PyDict_GET_SIZE(o);
    PyObject *k, *v;
    it_out_put(b, "{", 1);
    while (i < IT_ITEMS_MAX && PyDict_Next(o, &pos, &k, &v)) {
        Py_INCREF(k);
        Py_INCREF(v);
        if (i++)
            it_out_put(b, ", ", 2);
        it_render_primitive(b, k, nest + 1, level);
        it_out_put(b, ": ", 2);
        if (it_redact_name(k))  /* a str/bytes key on the deny-list (it_redact.h) */
            it_out_puts(b, IT_REDACTED);
        else
            it_render_primitive(b, v, nest + 1, level);
        Py_DECREF(k);
        Py_DECREF(v);
    }
    if (n > IT_ITEMS_MAX) {
        it_out_put(b, ", ", 2);
        it_put_len_mark(b, n);
    }
    it_out_put(b, "}", 1);
}

/* Items of an exact set or frozenset, by its iterator (the set's own
 * order, as repr() shows it); a set changed meanwhile just ends early. */
static inline void it_render_set(it_out *b, PyObject *o, int nest, int level) {
    Py_ssize_t n = PySet_GET_SIZE(o);
    int frozen = PyFrozenSet_CheckExact(o);
    if (!n) {
        it_out_puts(b, frozen ? "frozenset()" : "set()");
        return;
    }
    if (frozen)
        it_out_puts(b, "frozenset(");
    it_out_put(b, "{", 1);
    PyObject *it = nest < IT_NEST_MAX ? PyObject_GetIter(o) : NULL;
    if (!it) {
        PyErr_Clear();
        it_out_puts(b, "...");
    }
    for (Py_ssize_t i = 0; it && i < IT_ITEMS_MAX; i++) {
        PyObject *item = PyIter_Next(it);
        if (!item) {
            PyErr_Clear();
            break;
        }
        if (i)
            it_out_put(b, ", ", 2);
        it_render_primitive(b, item, nest + 1, level);
        Py_DECREF(item);
    }
    Py_XDECREF(it);
    if (n > IT_ITEMS_MAX && nest < IT_NEST_MAX) {
        it_out_put(b, ", ", 2);
        it_put_len_mark(b, n);
    }
    it_out_puts(b, frozen ? "})" : "}");
}

static void it_render_primitive(it_out *b, PyObject *o, int nest, int level) {
    if (b->len >= b->cap)
        return;  /* no room left: render (and call) nothing more */
    Py_ssize_t text_max = level >= IT_TRACE_FUNC_REPR ? IT_REPR_MAX : IT_STR_MAX;
    int kind = it_kind(o, level);
    if (nest >= IT_NEST_MAX && kind >= IT_K_LIST && kind <= IT_K_DICT) {
        it_out_puts(b, kind == IT_K_LIST ? "[...]" : kind == IT_K_TUPLE ? "(...)" : "{...}");
        return;
    }
    switch (kind) {
    case IT_K_ATOM:
        it_out_puts(b, o == Py_None ? "None" : o == Py_True ? "True" : "False");
        break;
    case IT_K_INT: {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (!overflow) {
            it_out_printf(b, "%lld", v);
        } else {
            /* int.__repr__ of an exact int runs no user code. */
            PyObject *r = PyObject_Repr(o);
            if (r) {
                it_put_repr_text(b, r, text_max);
                Py_DECREF(r);
            } else {
                PyErr_Clear();
                it_out_put(b, "<int>", 5);
            }
        }
        break;
    }
    case IT_K_FLOAT: {
        char *s = PyOS_double_to_string(PyFloat_AS_DOUBLE(o), 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (s) {
            it_out_puts(b, s);
            PyMem_Free(s);
        } else {
            PyErr_Clear();
            it_out_put(b, "<float>", 7);
        }
        break;
    }
    case IT_K_STR:
        it_put_text_repr(b, PyUnicode_KIND(o), PyUnicode_DATA(o), NULL, PyUnicode_GET_LENGTH(o),
                         text_max, 0);
        break;
    case IT_K_BYTES:
        it_put_text_repr(b, 0, NULL, (const unsigned char *)PyBytes_AS_STRING(o),
                         PyBytes_GET_SIZE(o), text_max, 0);
        break;
    case IT_K_BYTEARRAY:
        it_out_puts(b, "bytearray(");
        it_put_text_repr(b, 0, NULL, (const unsigned char *)PyByteArray_AS_STRING(o),
                         PyByteArray_GET_SIZE(o), text_max, 1);
        it_out_put(b, ")", 1);
        break;
    case IT_K_LIST:
    case IT_K_TUPLE:
        it_render_sequence(b, o, kind == IT_K_LIST, nest, level);
        break;
    case IT_K_DICT:
        it_render_dict(b, o, nest, level);
        break;
    case IT_K_SET:
    case IT_K_FROZENSET:
        it_render_set(b, o, nest, level);
        break;
    case IT_K_TYPE:
        it_render_repr(b, o, PyType_Type.tp_repr);
        break;
    case IT_K_C_REPR:
        it_render_repr(b, o, Py_TYPE(o)->tp_repr);
        break;
    default:
        if (level >= IT_TRACE_FUNC_REPR)
            it_render_repr(b, o, NULL);
        else
            it_out_printf(b, "<%.60s %p>", Py_TYPE(o)->tp_name, (void *)o);
    }
}

/* Render one value as a NUL-terminated string appended to `b`. */
static inline void it_render_value(it_out *b, PyObject *o, int level) {
    it_render_primitive(b, o, 0, level);
    it_out_terminate(b);
}

#endif
