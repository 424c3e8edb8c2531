/* Redaction: secrets are replaced by '<redacted>' in the traced thread,
 * before a record enters the ring, so no ring, spool or file ever holds
 * them.
 *
 * Names.  A name (an argument's, a str/bytes dict key, a function's) is
 * redacted when it contains a deny-list word as a whole word: case
 * ignored, words split at every character that is not an ASCII letter or
 * digit and where a lower-case letter or digit is followed by an upper-case
 * one (db_password, X-Auth-Token, accessToken), a word entry may span words
 * (api_key matches my_api_key and apiKey); or when it matches one of the
 * user's globs as a whole (fnmatch, case ignored).
 * Values.  A rendered value (the whole text of one argument or return
 * value) matching one of the user's POSIX extended regexes is redacted.
 *
 * Which arguments of a code object are redacted, and whether its return
 * value is, is decided once per code object and session (registry.pyx,
 * it_redact_mask): the hook tests one bit per argument.
 *
 * GIL: the configuration is read and replaced with the GIL held only (the
 * hook's rendering, set_tracing), and it_redact_config is swapped and the
 * old one freed under the GIL; the matchers run no Python code, so no
 * reconfiguration can happen between reading `it_redact` and finishing a
 * match. */
#ifndef IT_REDACT_H
#define IT_REDACT_H

#include "it_common.h"
#include "it_out.h"
#include <fnmatch.h>
#include <regex.h>
#include <stdlib.h>

#define IT_REDACTED "'<redacted>'"
#define IT_REDACT_NAME_MAX 256  /* characters of a name (a dict key) examined */

typedef struct {
    int names;       /* the name rules are on (not redact=none) */
    int nwords, nglobs, nregex;
    char **words;    /* normalised (it_redact_normalise) */
    char **globs;    /* lower-case */
    regex_t *regex;  /* compiled once, at set_tracing */
} it_redact_config;

static it_redact_config *it_redact;  /* NULL: nothing is redacted */

/* The verdicts on recent dict keys: a dict rendered on every call has the
 * same key objects each time, and a pointer compare is cheaper than
 * matching.  A slot owns a reference to its key, so the address cannot be
 * reused by another object while cached; only exact str/bytes (their
 * deallocation runs no user code) of at most IT_KEY_CACHE_LEN characters.
 * GIL held for every access; emptied when the configuration changes. */
#define IT_KEY_CACHE 64
#define IT_KEY_CACHE_LEN 64
static struct {
    PyObject *key;
    int redacted;
} it_key_cache[IT_KEY_CACHE];

static inline void it_key_cache_clear(void) {
    for (int i = 0; i < IT_KEY_CACHE; i++)
        Py_CLEAR(it_key_cache[i].key);
}

static inline void it_redact_free(it_redact_config *c) {
    if (!c)
        return;
    for (int i = 0; i < c->nwords; i++)
        free(c->words[i]);
    for (int i = 0; i < c->nglobs; i++)
        free(c->globs[i]);
    for (int i = 0; i < c->nregex; i++)
        regfree(&c->regex[i]);
    free(c->words);
    free(c->globs);
    free(c->regex);
    free(c);
}

/* Replace the configuration (GIL held); `c` is owned from now on. */
static inline void it_redact_install(it_redact_config *c) {
    it_redact_config *old = it_redact;
    it_redact = c;
    it_redact_free(old);
    it_key_cache_clear();
}

/* Compile `pattern` into `re`: 0, or regcomp's error code.  A leading
 * "(?i)" ignores case (POSIX has no inline flag). */
static inline int it_redact_compile(regex_t *re, const char *pattern) {
    int flags = REG_EXTENDED | REG_NOSUB;
    if (strncmp(pattern, "(?i)", 4) == 0) {
        flags |= REG_ICASE;
        pattern += 4;
    }
    return regcomp(re, pattern, flags);
}

/* One character of a name, for `norm` (word boundaries as '_', lower case,
 * a '_' before an upper-case letter that follows a lower-case letter or a
 * digit) and `low` (lower case only, for the globs).  Beyond ASCII a
 * character is part of a word and matches no ASCII entry: 0x80. */
static inline void it_redact_put(Py_UCS4 c, Py_UCS4 prev, char *norm, size_t *nn, char *low,
                                 size_t *nl) {
    int upper = c >= 'A' && c <= 'Z';
    int prev_word = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
    char ch;
    if (c >= 0x80)
        ch = (char)0x80;
    else if (upper)
        ch = (char)(c - 'A' + 'a');
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        ch = (char)c;
    else
        ch = '_';
    low[(*nl)++] = c >= 0x80 ? (char)0x80 : upper ? ch : (char)c;
    if (upper && prev_word)
        norm[(*nn)++] = '_';
    norm[(*nn)++] = ch;
}

/* `name` (str or bytes) in both forms, NUL-terminated, its first
 * IT_REDACT_NAME_MAX characters; 0 when it is neither str nor bytes. */
static inline int it_redact_forms(PyObject *name, char norm[2 * IT_REDACT_NAME_MAX + 1],
                                  char low[IT_REDACT_NAME_MAX + 1]) {
    size_t nn = 0, nl = 0;
    Py_UCS4 prev = 0;
    if (PyUnicode_Check(name)) {
        int kind = PyUnicode_KIND(name);
        const void *data = PyUnicode_DATA(name);
        Py_ssize_t n = PyUnicode_GET_LENGTH(name);
        for (Py_ssize_t i = 0; i < n && i < IT_REDACT_NAME_MAX; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            it_redact_put(c, prev, norm, &nn, low, &nl);
            prev = c;
        }
    } else if (PyBytes_Check(name)) {
        const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(name);
        Py_ssize_t n = PyBytes_GET_SIZE(name);
        for (Py_ssize_t i = 0; i < n && i < IT_REDACT_NAME_MAX; i++) {
            it_redact_put(s[i], prev, norm, &nn, low, &nl);
            prev = s[i];
        }
    } else {
        return 0;
    }
    norm[nn] = '\0';
    low[nl] = '\0';
    return 1;
}

/* Some entry of `c` starts at a word start of `norm` and ends at a word
 * end.  Tried at word starts only, entries by their first byte first: a
 * name that matches nothing costs a byte compare per entry and word. */
static inline int it_redact_has_word(const it_redact_config *c, const char *norm, size_t n) {
    for (size_t at = 0; at < n; at++) {
        if (norm[at] == '_' || (at && norm[at - 1] != '_'))
            continue;
        for (int i = 0; i < c->nwords; i++) {
            const char *w = c->words[i];
            if (w[0] != norm[at])
                continue;
            size_t len = strlen(w);
            if (at + len <= n && memcmp(norm + at, w, len) == 0 &&
                (at + len == n || norm[at + len] == '_'))
                return 1;
        }
    }
    return 0;
}

/* Whether a name is redacted under `c` (GIL held: `name` is a live object). */
static inline int it_redact_name_in(const it_redact_config *c, PyObject *name) {
    char norm[2 * IT_REDACT_NAME_MAX + 1], low[IT_REDACT_NAME_MAX + 1];
    if (!c || !c->names || !it_redact_forms(name, norm, low))
        return 0;
    if (it_redact_has_word(c, norm, strlen(norm)))
        return 1;
    for (int i = 0; i < c->nglobs; i++)
        if (fnmatch(c->globs[i], low, 0) == 0)
            return 1;
    return 0;
}

/* it_redact_name_in under the current configuration, through the cache
 * of recent keys (see it_key_cache). */
static inline int it_redact_name(PyObject *name) {
    if (!it_redact || !it_redact->names)
        return 0;
    size_t slot = ((uintptr_t)name >> 4) % IT_KEY_CACHE;
    if (it_key_cache[slot].key == name)
        return it_key_cache[slot].redacted;
    int redacted = it_redact_name_in(it_redact, name);
    if ((PyUnicode_CheckExact(name) && PyUnicode_GET_LENGTH(name) <= IT_KEY_CACHE_LEN) ||
        (PyBytes_CheckExact(name) && PyBytes_GET_SIZE(name) <= IT_KEY_CACHE_LEN)) {
        PyObject *old = it_key_cache[slot].key;
        Py_INCREF(name);
        it_key_cache[slot].key = name;
        it_key_cache[slot].redacted = redacted;
        Py_XDECREF(old);  /* an exact str/bytes: no user code runs */
    }
    return redacted;
}

/* The normalised form of a word entry (str), without boundary '_' at
 * either end, malloc'd ("" when nothing is left); NULL on no memory. */
static inline char *it_redact_normalise(PyObject *word) {
    char norm[2 * IT_REDACT_NAME_MAX + 1], low[IT_REDACT_NAME_MAX + 1];
    if (!it_redact_forms(word, norm, low))
        norm[0] = '\0';
    char *s = norm;
    while (*s == '_')
        s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == '_')
        s[--n] = '\0';
    return strdup(s);
}

/* After a value was rendered into b from `start` (NUL-terminated): the
 * whole value becomes '<redacted>' if a value regex matches it. */
static inline void it_redact_value(it_out *b, size_t start) {
    const it_redact_config *c = it_redact;
    if (IT_LIKELY(!c || !c->nregex) || b->len <= start)
        return;
    for (int i = 0; i < c->nregex; i++) {
        if (regexec(&c->regex[i], b->p + start, 0, NULL, 0) == 0) {
            b->len = start;
            it_out_puts(b, IT_REDACTED);
            it_out_terminate(b);
            return;
        }
    }
}

#endif
