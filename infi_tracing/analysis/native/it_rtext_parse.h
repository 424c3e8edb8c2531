/* The pieces of a text trace line's body (it_rtext.h reads the line with
 * them): numbers, a written duration, where a value ends, where the file
 * starts, where the module ends in "module.qualname".  Pure functions of
 * the line's bytes: no state, no allocation. */
#ifndef IT_RTEXT_PARSE_H
#define IT_RTEXT_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline int it_rtext_is_digit(char c) { return c >= '0' && c <= '9'; }

/* Digits at *p (advanced past them) into *v; 0 if there are none, or
 * more than 15 (no pid, count or duration is that long: no overflow). */
static inline int it_rtext_number(const char **p, int64_t *v) {
    const char *s = *p;
    int64_t n = 0;
    if (!it_rtext_is_digit(*s))
        return 0;
    for (; it_rtext_is_digit(*s); s++) {
        if (s - *p == 15)
            return 0;
        n = n * 10 + (*s - '0');
    }
    *v = n;
    *p = s;
    return 1;
}

/* " [1.132456 ms]" / " [12 ns]" ending at `end` (exclusive) of [begin, end):
 * the duration in ns and where the " [" starts, or -1.  The decimals go down
 * to the ns (it_lines.h, it_out_duration) or, in lines written before that,
 * stop at three; any count from 1 to the ns is read exactly. */
static inline int64_t it_rtext_duration(const char *begin, const char *end, const char **at) {
    if (end - begin < 6 || end[-1] != ']')
        return -1;
    const char *open = end - 2;
    while (open > begin && *open != '[')
        open--;
    if (open <= begin || *open != '[' || open[-1] != ' ')
        return -1;
    const char *s = open + 1;
    int64_t whole, frac = 0;
    if (!it_rtext_number(&s, &whole))
        return -1;
    int decimals = 0;
    if (*s == '.') {
        s++;
        const char *d = s;
        if (!it_rtext_number(&s, &frac))
            return -1;
        decimals = (int)(s - d);
    }
    if (*s++ != ' ')
        return -1;
    int64_t scale;
    size_t ulen = (size_t)(end - 1 - s);
    if (ulen == 2 && !memcmp(s, "ns", 2))
        scale = 1;
    else if (ulen == 2 && !memcmp(s, "us", 2))
        scale = 1000;
    else if (ulen == 2 && !memcmp(s, "ms", 2))
        scale = 1000000;
    else if (ulen == 1 && *s == 's')
        scale = 1000000000;
    else
        return -1;
    /* the fraction's unit: scale / 10^decimals ns; 0 when there are more
     * decimals than ns in the unit (scale is a power of 10) */
    int64_t step = scale;
    for (int i = 0; i < decimals && step; i++)
        step /= 10;
    if ((scale > 1) != (decimals > 0) || !step)
        return -1;
    if (whole > INT64_MAX / scale / 2)
        return -1;  /* longer than any trace: not a duration */
    *at = open - 1;
    return whole * scale + frac * step;
}

/* Split "module.qualname" at the dot that ends the module.  The module has
 * no spaces but may have dots, and so may the qualname; the file names the
 * module's last part (its basename, or the package for __init__.py), so the
 * split is after the last ".<that part>" that is followed by a dot; a
 * frozen module's file ("<frozen importlib._bootstrap>") names it whole.
 * Without a match: at the first dot. */
static inline size_t it_rtext_module_len(const char *name, size_t len, const char *file,
                                         size_t flen) {
    const char *slash = file + flen;
    while (slash > file && slash[-1] != '/')
        slash--;
    const char *stem = slash, *stem_end = file + flen;
    if (flen > 9 && !memcmp(file, "<frozen ", 8) && file[flen - 1] == '>') {
        stem = file + 8;  /* "<frozen importlib._bootstrap>": the module whole */
        stem_end = file + flen - 1;
    } else if (stem_end - stem > 3 && !memcmp(stem_end - 3, ".py", 3)) {
        stem_end -= 3;
    }
    if (stem_end - stem == 8 && !memcmp(stem, "__init__", 8) && slash > file) {
        stem_end = slash - 1;
        stem = stem_end;
        while (stem > file && stem[-1] != '/')
            stem--;
    }
    size_t sl = (size_t)(stem_end - stem);
    size_t found = 0;
    if (sl)
        for (size_t i = 0; i + sl < len; i++)
            if ((i == 0 || name[i - 1] == '.') && name[i + sl] == '.' && !memcmp(name + i, stem, sl))
                found = i + sl;
    if (found)
        return found;
    const char *dot = memchr(name, '.', len);
    return dot ? (size_t)(dot - name) : 0;
}

/* Where a value shown on a line ends, looking from `s` up to `end`: the
 * space (or `end`) after it, or NULL if its quotes or brackets do not close
 * before `end`.  A value is a repr as it_render.h writes it (built-in types
 * as repr() does, anything else "<TypeName 0xaddr>"), so it has no space
 * outside its quotes and brackets but the one of a cut string's
 * "'abc'... <len=N>".  That is what lets a file name hold spaces. */
static inline const char *it_rtext_value_end(const char *s, const char *end) {
    const char *start = s;
    int depth = 0;
    for (; s < end; s++) {
        char c = *s;
        if (c == '\'' || c == '"') {
            for (s++; s < end && *s != c; s++)
                if (*s == '\\')
                    s++;  /* an escaped character, the quote among them */
            if (s >= end)
                return NULL;
        } else if (c == '(' || c == '[' || c == '{' || c == '<') {
            depth++;
        } else if (c == ')' || c == ']' || c == '}' || c == '>') {
            if (!depth--)
                return NULL;
        } else if (c == ' ' && !depth &&
                   !(s - start >= 3 && !memcmp(s - 3, "...", 3) && end - s > 5 &&
                     !memcmp(s + 1, "<len=", 5))) {
            return s;
        }
    }
    return depth ? NULL : s;
}

/* Where the file starts in a record's line from `s` (after its mark and
 * space) to `colon` (the ':' before the line number):
 *   NAME[(ARGS)] FILE                                  a call
 *   NAME[ -> VALUE| raised TYPE][ [DURATION]] FILE     any other record of code
 * NAME (module.qualname) has neither a space nor a '(', ARGS and VALUE end
 * where it_rtext_value_end says, so FILE is the rest, spaces and all
 * ("<frozen importlib._bootstrap>").  A "[...]" there that a space follows
 * is the duration: NULL if it is none, as if the line is not so. */
static inline const char *it_rtext_file_at(const char *s, const char *colon, int call) {
    const char *p = s;
    while (p < colon && *p != ' ' && *p != '(')
        p++;
    if (p == s)
        return NULL;
    if (call) {
        if (*p == '(') {
            p = it_rtext_value_end(p, colon);  /* the whole "(...)" */
            if (!p || p[-1] != ')')
                return NULL;
        }
    } else {
        size_t n = (size_t)(colon - p);
        if (n > 4 && !memcmp(p, " -> ", 4))
            p = it_rtext_value_end(p + 4, colon);
        else if (n > 8 && !memcmp(p, " raised ", 8))
            p = it_rtext_value_end(p + 8, colon);
        if (!p)
            return NULL;
        const char *close = colon - p > 2 && p[1] == '[' ? memchr(p, ']', (size_t)(colon - p))
                                                          : NULL;
        const char *at;
        if (close && close + 1 < colon && close[1] == ' ') {  /* the duration's place */
            if (it_rtext_duration(p, close + 1, &at) < 0 || at != p)
                return NULL;
            p = close + 1;
        }
    }
    return colon - p > 1 && *p == ' ' ? p + 1 : NULL;
}

#endif
