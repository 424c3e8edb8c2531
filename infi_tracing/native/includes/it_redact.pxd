# Declarations of it_redact.h: the deny-list, globs and value regexes
# (regex_t, regerror and regfree come from <regex.h>, which it includes).
from cpython.object cimport PyObject

cdef extern from "it_redact.h":
    ctypedef struct regex_t:
        pass
    size_t regerror(int errcode, const regex_t *preg, char *errbuf, size_t errbuf_size)
    void regfree(regex_t *preg)
    ctypedef struct it_redact_config:
        int names
        int nwords, nglobs, nregex
        char **words
        char **globs
        regex_t *regex
    void it_redact_free(it_redact_config *c)
    void it_redact_install(it_redact_config *c)
    int it_redact_compile(regex_t *re, const char *pattern)
    int it_redact_name(PyObject *name)
    char *it_redact_normalise(PyObject *word)
