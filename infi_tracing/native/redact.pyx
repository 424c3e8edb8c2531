# Redaction settings and per-code-object decisions (included into _core.pyx).
#
# set_redaction() builds the native configuration (it_redact.h) once per
# set_tracing(), before the decision generation is bumped, so every code
# object traced at PRIMITIVES or REPR gets its argument bits again
# (_redact_code, from _decide_py) under the configuration its records use.

from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport strdup
from cpython.object cimport PyObject
from infi_tracing.native.includes.it_redact cimport (
    regex_t, regerror, regfree, it_redact_config, it_redact_free, it_redact_install,
    it_redact_compile, it_redact_name, it_redact_normalise)
from infi_tracing.native.includes.it_registry cimport it_code_entry, it_registry_get

#: The deny-list on by default (set_tracing's redact=None).
DEFAULT_REDACT = ("password", "passwd", "pwd", "secret", "token", "api_key", "apikey",
                  "access_key", "private_key", "authorization", "auth", "cookie", "session",
                  "credential", "credentials")


cdef str _regex_message(int rc, regex_t *re):
    cdef char buf[200]
    regerror(rc, re, buf, sizeof(buf))
    return buf.decode("utf-8", "replace")


def regex_error(str pattern):
    """Why `pattern` is not a POSIX extended regex (as value redaction
    compiles it), or None when it is one."""
    cdef regex_t re
    cdef int rc
    cdef bytes raw = pattern.encode("utf-8", "surrogateescape")
    if b"\0" in raw:
        return "a NUL character"
    rc = it_redact_compile(&re, raw)
    if rc != 0:
        return _regex_message(rc, &re)
    regfree(&re)
    return None


def normalised_word(str word):
    """`word` as a deny-list entry is matched (see it_redact.h): lower case,
    words joined by '_'; "" when nothing of it can match a name."""
    cdef char *s = it_redact_normalise(<PyObject *> word)
    if s == NULL:
        raise MemoryError()
    try:
        return (<bytes> s).decode("utf-8", "replace")
    finally:
        free(s)


cdef char **_c_strings(list items, int *count) except? NULL:
    count[0] = 0
    cdef char **out = <char **> calloc(max(len(items), 1), sizeof(char *))
    if out == NULL:
        raise MemoryError()
    for item in items:
        out[count[0]] = strdup(item)
        if out[count[0]] == NULL:
            raise MemoryError()
        count[0] += 1
    return out


def set_redaction(bint names, words, globs, regexes):
    """Redact arguments, dict values and return values named like `words`
    (deny-list entries) or matching `globs` (fnmatch, case ignored) when
    `names`; and values matching `regexes` (POSIX extended, already checked
    by regex_error).  Takes effect for the decisions of the next session
    (start() bumps the generation).  GIL held."""
    cdef it_redact_config *c = <it_redact_config *> calloc(1, sizeof(it_redact_config))
    cdef int rc
    if c == NULL:
        raise MemoryError()
    try:
        c.names = names
        c.words = _c_strings([normalised_word(w).encode() for w in words], &c.nwords)
        c.globs = _c_strings([g.lower().encode("utf-8", "surrogateescape") for g in globs],
                             &c.nglobs)
        c.regex = <regex_t *> calloc(max(len(regexes), 1), sizeof(regex_t))
        if c.regex == NULL:
            raise MemoryError()
        for pattern in regexes:
            rc = it_redact_compile(&c.regex[c.nregex], pattern.encode("utf-8", "surrogateescape"))
            if rc != 0:
                raise ValueError("redact_values: bad regex %r: %s"
                                 % (pattern, _regex_message(rc, &c.regex[c.nregex])))
            c.nregex += 1
    except BaseException:
        it_redact_free(c)
        raise
    it_redact_install(c)


cdef int _redact_code(object code, uint32_t code_id) except -1:
    """Which arguments of `code` (and whether its return value) are
    redacted, into its registry entry: decided once per code object and
    session, so the hook tests a bit per argument."""
    cdef it_code_entry *e = it_registry_get(code_id)
    cdef uint64_t bits = 0
    cdef int i
    names = <object> e.py_argnames
    for i in range(len(names)):
        if it_redact_name(<PyObject *> names[i]):
            bits |= (<uint64_t> 1) << (i if i < 63 else 63)
    e.redact_args = bits
    e.redact_return = it_redact_name(<PyObject *> code.co_name)
    return 0


# On from the start: a set_tracing() without redact= gets the default list.
set_redaction(True, DEFAULT_REDACT, (), ())
