/* The reader's function table: one entry per distinct (module, qualname,
 * file, line), whichever file, process or format named it.  Sources intern
 * what they read (a binary file's CODE chunk, a text line's name) and put
 * the index in it_rrec.func; consumers index their per-function data by it.
 *
 * Memory grows with the distinct functions of the trace, never with its
 * length.  Strings are copied once into blocks that never move, so an
 * entry's pointers stay valid until it_rfuncs_destroy.  One owner, no lock. */
#ifndef IT_RFUNCS_H
#define IT_RFUNCS_H

#include "it_rrec.h"
#include <stdlib.h>
#include <string.h>

#define IT_RFUNCS_BLOCK (64 * 1024)

typedef struct it_rfuncs_block {
    struct it_rfuncs_block *next;
    size_t used, cap;
    char data[];
} it_rfuncs_block;

typedef struct {
    it_rfunc *funcs;         /* [0] is "no function" */
    uint64_t *hashes;
    uint32_t n, cap;
    uint32_t *slots;         /* open addressing: function index, 0 empty */
    uint32_t nslots;         /* a power of two, at least twice n */
    it_rfuncs_block *blocks;
    int oom;
} it_rfuncs;

static inline int it_rfuncs_init(it_rfuncs *t) {
    memset(t, 0, sizeof *t);
    t->cap = 256;
    t->funcs = calloc(t->cap, sizeof *t->funcs);
    t->hashes = calloc(t->cap, sizeof *t->hashes);
    t->nslots = 512;
    t->slots = calloc(t->nslots, sizeof *t->slots);
    if (!t->funcs || !t->hashes || !t->slots) {
        free(t->funcs);
        free(t->hashes);
        free(t->slots);
        memset(t, 0, sizeof *t);
        return -1;
    }
    static const char *const none[] = {NULL};
    t->funcs[0] = (it_rfunc){"", "", "", 0, 0, none};
    t->n = 1;
    return 0;
}

static inline void it_rfuncs_destroy(it_rfuncs *t) {
    while (t->blocks) {
        it_rfuncs_block *b = t->blocks;
        t->blocks = b->next;
        free(b);
    }
    free(t->funcs);
    free(t->hashes);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* `n` bytes that live as long as the table; NULL when memory runs out. */
static inline void *it_rfuncs_alloc(it_rfuncs *t, size_t n) {
    n = (n + 7) & ~(size_t)7;
    if (!t->blocks || t->blocks->cap - t->blocks->used < n) {
        size_t cap = n > IT_RFUNCS_BLOCK ? n : IT_RFUNCS_BLOCK;
        it_rfuncs_block *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = t->blocks;
        b->used = 0;
        b->cap = cap;
        t->blocks = b;
    }
    void *p = t->blocks->data + t->blocks->used;
    t->blocks->used += n;
    return p;
}

static inline const char *it_rfuncs_strdup(it_rfuncs *t, const char *s, size_t len) {
    char *p = it_rfuncs_alloc(t, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static inline uint64_t it_rfuncs_hash_bytes(uint64_t h, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)  /* FNV-1a */
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;  /* a separator, so "a"+"bc" != "ab"+"c" */
}

static inline int it_rfuncs_grow(it_rfuncs *t) {
    uint32_t cap = t->cap * 2;
    it_rfunc *f = realloc(t->funcs, cap * sizeof *f);
    if (!f)
        return -1;
    t->funcs = f;
    uint64_t *h = realloc(t->hashes, cap * sizeof *h);
    if (!h)
        return -1;
    t->hashes = h;
    t->cap = cap;
    uint32_t nslots = t->nslots * 2;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -1;
    for (uint32_t i = 1; i < t->n; i++) {
        uint32_t s = (uint32_t)t->hashes[i] & (nslots - 1);
        while (slots[s])
            s = (s + 1) & (nslots - 1);
        slots[s] = i;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* The index of the function with these names (lengths given: the strings
 * need not be NUL-terminated), added on first sight.  Argument names are
 * kept from the first sight (they do not take part in the identity).
 * Returns 0 when memory runs out (t->oom is set). */
static inline uint32_t it_rfuncs_intern(it_rfuncs *t, const char *module, size_t module_len,
                                        const char *qualname, size_t qualname_len,
                                        const char *filename, size_t filename_len, int line,
                                        int nargs, const char *const *argnames) {
    if (!t->funcs) {
        t->oom = 1;
        return 0;
    }
    uint64_t h = 0xcbf29ce484222325ull;
    h = it_rfuncs_hash_bytes(h, module, module_len);
    h = it_rfuncs_hash_bytes(h, qualname, qualname_len);
    h = it_rfuncs_hash_bytes(h, filename, filename_len);
    h = (h ^ (uint32_t)line) * 0x100000001b3ull;
    h ^= h >> 31;
    uint32_t s = (uint32_t)h & (t->nslots - 1);
    for (; t->slots[s]; s = (s + 1) & (t->nslots - 1)) {
        uint32_t i = t->slots[s];
        const it_rfunc *f = &t->funcs[i];
        if (t->hashes[i] == h && f->line == line && strlen(f->module) == module_len &&
            !memcmp(f->module, module, module_len) && strlen(f->qualname) == qualname_len &&
            !memcmp(f->qualname, qualname, qualname_len) &&
            strlen(f->filename) == filename_len && !memcmp(f->filename, filename, filename_len))
            return i;
    }
    if (t->n * 2 + 2 > t->nslots || t->n == t->cap) {
        if (it_rfuncs_grow(t)) {
            t->oom = 1;
            return 0;
        }
        return it_rfuncs_intern(t, module, module_len, qualname, qualname_len, filename,
                                filename_len, line, nargs, argnames);
    }
    it_rfunc f = {it_rfuncs_strdup(t, module, module_len),
                  it_rfuncs_strdup(t, qualname, qualname_len),
                  it_rfuncs_strdup(t, filename, filename_len), line, 0, NULL};
    const char **names = it_rfuncs_alloc(t, (size_t)(nargs > 0 ? nargs : 0) * sizeof(char *) + 8);
    if (!f.module || !f.qualname || !f.filename || !names) {
        t->oom = 1;
        return 0;
    }
    for (int i = 0; i < nargs; i++) {
        names[i] = it_rfuncs_strdup(t, argnames[i], strlen(argnames[i]));
        if (!names[i]) {
            t->oom = 1;
            return 0;
        }
    }
    f.nargs = nargs > 0 ? nargs : 0;
    f.argnames = names;
    uint32_t i = t->n++;
    t->funcs[i] = f;
    t->hashes[i] = h;
    t->slots[s] = i;
    return i;
}

static inline const it_rfunc *it_rfuncs_get(const it_rfuncs *t, uint32_t i) {
    return &t->funcs[i < t->n ? i : 0];
}

#endif
