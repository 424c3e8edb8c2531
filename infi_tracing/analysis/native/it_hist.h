/* A log-linear histogram of durations (ns) for percentiles in bounded
 * memory: values below 128 exactly, above that 128 buckets per power of
 * two, so a bucket is at most 1/128 (0.78%) of its values wide and the
 * reported value (the bucket's middle) is within 0.4% of every value in it.
 * Only the buckets between the smallest and the largest value seen are
 * stored (a few hundred for most functions).  No Python. */
#ifndef IT_HIST_H
#define IT_HIST_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IT_HIST_SUB 7  /* log2 of the buckets per power of two */

typedef struct {
    uint32_t *counts;   /* buckets lo .. lo + n - 1 */
    uint32_t lo, n;
    uint64_t total;
} it_hist;

static inline uint32_t it_hist_index(uint64_t v) {
    if (v < (1u << IT_HIST_SUB))
        return (uint32_t)v;
    int e = 63 - __builtin_clzll(v);  /* >= IT_HIST_SUB */
    return (uint32_t)((e - IT_HIST_SUB + 1) << IT_HIST_SUB) +
           (uint32_t)((v >> (e - IT_HIST_SUB)) & ((1u << IT_HIST_SUB) - 1));
}

/* The middle of bucket `i`'s values. */
static inline uint64_t it_hist_value(uint32_t i) {
    if (i < (1u << IT_HIST_SUB))
        return i;
    int e = (int)(i >> IT_HIST_SUB) + IT_HIST_SUB - 1;
    uint64_t low = ((uint64_t)((1u << IT_HIST_SUB) | (i & ((1u << IT_HIST_SUB) - 1)))) << (e - IT_HIST_SUB);
    return low + ((1ull << (e - IT_HIST_SUB)) >> 1);
}

/* Adds `v` (a negative one is 0); -1 when memory runs out (not counted). */
static inline int it_hist_add(it_hist *h, int64_t v) {
    uint32_t i = it_hist_index(v > 0 ? (uint64_t)v : 0);
    if (!h->n || i < h->lo || i >= h->lo + h->n) {
        uint32_t lo = h->n ? (i < h->lo ? i : h->lo) : i;
        uint32_t hi = h->n ? (i >= h->lo + h->n ? i + 1 : h->lo + h->n) : i + 1;
        /* grow by a margin, so a slowly widening range does not realloc each time */
        uint32_t margin = (hi - lo) / 4 + 8;
        lo = lo > margin && i == lo ? lo - margin : lo;
        hi = i + 1 == hi ? hi + margin : hi;
        uint32_t *c = calloc(hi - lo, sizeof *c);
        if (!c)
            return -1;
        if (h->n)
            memcpy(c + (h->lo - lo), h->counts, h->n * sizeof *c);
        free(h->counts);
        h->counts = c;
        h->lo = lo;
        h->n = hi - lo;
    }
    h->counts[i - h->lo]++;
    h->total++;
    return 0;
}

/* The value at quantile q (0..1) of what was added: the middle of the
 * bucket holding the ceil(q * total)-th value; 0 when empty. */
static inline uint64_t it_hist_quantile(const it_hist *h, double q) {
    if (!h->total)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->total + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t k = 0; k < h->n; k++) {
        seen += h->counts[k];
        if (seen >= rank)
            return it_hist_value(h->lo + k);
    }
    return it_hist_value(h->lo + h->n - 1);
}

static inline void it_hist_free(it_hist *h) {
    free(h->counts);
    memset(h, 0, sizeof *h);
}

#endif
