/* The saturating sum of durations: the one home of the rule for the
 * pairing (children's times) and the analysis aggregates (report rows, call
 * tree nodes, greenlets' running time).  A damaged or hostile trace file may
 * carry any timestamps and written durations, up to INT64_MAX each, so a
 * plain sum may overflow (undefined behaviour in signed arithmetic) and
 * turn negative; capped at INT64_MAX it stays a true "at least".  No Python,
 * no allocation: usable on the drain thread and in the fuzz harness. */
#ifndef IT_SUM_H
#define IT_SUM_H

#include <stdint.h>

/* a + b for durations (both >= 0), saturated at INT64_MAX. */
static inline int64_t it_sum_sat(int64_t a, int64_t b) {
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

#endif
