/* The flight recorder's slow-call rules (`--dump-on-slow 'myapp.handle>500ms'`):
 * the drain, which pairs calls with their exits (it_drain_pair.h) and so
 * knows each exit's duration as records pass, tells a waiting snapshot
 * thread when a call of a watched function took at least its threshold.
 *
 * Rules are globs on "module.qualname"; each code id's rule is found once
 * (fnmatch in the drain, no GIL) and cached by code id.  The drain only
 * notes the newest slow call and signals: it never waits for the waiter,
 * and a burst of slow calls makes one snapshot (the waiter takes the
 * latest), not one each.
 *
 * Locking: rules are set before the recorder reaches the drain and never
 * change afterwards (a new rule set is a new recorder); `code_rule` is the
 * drain's alone (sinks_mu held); `mu` guards the note between the drain
 * and the waiter. */
#ifndef IT_FLIGHT_SLOW_H
#define IT_FLIGHT_SLOW_H

#include "it_clock.h"
#include "it_registry.h"
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct it_flight_slow {
    int nrules;
    char **globs;               /* "module.qualname" patterns */
    uint64_t *min_ns;           /* each rule's threshold */
    int16_t *code_rule;         /* by code id: -2 not looked at, -1 none, else the rule */
    size_t code_rule_cap;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t seq;               /* slow calls noted (ever) */
    uint32_t code_id;           /* the latest one's function ... */
    uint64_t dur_ns;            /* ... and duration */
    int stop;                   /* the waiter should return (the recorder is going) */
} it_flight_slow;

static inline it_flight_slow *it_flight_slow_new(void) {
    it_flight_slow *s = calloc(1, sizeof *s);
    if (s) {
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
    }
    return s;
}

/* GIL held, before the recorder is handed to the drain.  0 or ENOMEM. */
static inline int it_flight_slow_add(it_flight_slow *s, const char *glob, uint64_t min_ns) {
    char **g = realloc(s->globs, (size_t)(s->nrules + 1) * sizeof *g);
    if (!g)
        return ENOMEM;
    s->globs = g;
    uint64_t *m = realloc(s->min_ns, (size_t)(s->nrules + 1) * sizeof *m);
    if (!m)
        return ENOMEM;
    s->min_ns = m;
    if (!(s->globs[s->nrules] = strdup(glob)))
        return ENOMEM;
    s->min_ns[s->nrules++] = min_ns;
    return 0;
}

static inline void it_flight_slow_free(it_flight_slow *s) {
    if (!s)
        return;
    for (int i = 0; i < s->nrules; i++)
        free(s->globs[i]);
    free(s->globs);
    free(s->min_ns);
    free(s->code_rule);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* In a forked child: the waiter is gone and `mu` may have been held. */
static inline void it_flight_slow_after_fork(it_flight_slow *s) {
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->seq = 0;
    s->stop = 0;
}

/* The rule watching `code_id` (-1: none).  Drain, sinks_mu held. */
static int it_flight_slow_rule(it_flight_slow *s, uint32_t code_id) {
    if (code_id >= s->code_rule_cap) {
        size_t cap = s->code_rule_cap ? s->code_rule_cap : 1024;
        while (cap <= code_id)
            cap *= 2;
        int16_t *p = realloc(s->code_rule, cap * sizeof *p);
        if (!p)
            return -1;
        for (size_t i = s->code_rule_cap; i < cap; i++)
            p[i] = -2;
        s->code_rule = p;
        s->code_rule_cap = cap;
    }
    if (s->code_rule[code_id] == -2) {
        const it_code_entry *e = it_registry_get(code_id);
        char name[1024];
        snprintf(name, sizeof name, "%s.%s", e->module, e->qualname);
        int16_t rule = -1;
        for (int i = 0; i < s->nrules && rule < 0; i++)
            if (fnmatch(s->globs[i], name, 0) == 0)
                rule = (int16_t)i;
        s->code_rule[code_id] = rule;
    }
    return s->code_rule[code_id];
}

/* A batch's exits with their durations (drain, sinks_mu held). */
static void it_flight_slow_check(it_flight_slow *s, const it_record **recs, const int64_t *durs,
                                 size_t n) {
    for (size_t i = 0; i < n; i++) {
        const it_record *rec = recs[i];
        if (durs[i] < 0 || (rec->event != IT_EV_RETURN && rec->event != IT_EV_UNWIND))
            continue;
        int rule = it_flight_slow_rule(s, rec->code_id);
        if (rule < 0 || (uint64_t)durs[i] < s->min_ns[rule])
            continue;
        pthread_mutex_lock(&s->mu);
        s->seq++;
        s->code_id = rec->code_id;
        s->dur_ns = (uint64_t)durs[i];
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
}

/* Without the GIL: wait up to `ms` for a slow call noted after `*seen`.
 * Returns 1 (and the call: `*code_id`, `*dur_ns`; `*seen` moves on), 0 on
 * timeout, -1 when told to stop. */
static int it_flight_slow_wait(it_flight_slow *s, uint64_t *seen, long ms, uint32_t *code_id,
                               uint64_t *dur_ns) {
    struct timespec until = it_clock_deadline((int64_t)ms * 1000000);
    int got = 0, rc = 0;
    pthread_mutex_lock(&s->mu);
    while (!s->stop && s->seq == *seen && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
    if (s->stop) {
        got = -1;
    } else if (s->seq != *seen) {
        *seen = s->seq;
        *code_id = s->code_id;
        *dur_ns = s->dur_ns;
        got = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

static inline void it_flight_slow_stop(it_flight_slow *s) {
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

#endif
