/* `report`: one row per function (or module, greenlet, thread, pid) with
 * calls, total, self, max and a histogram for the percentiles, wall and
 * active times both; aggregated in C from the reader's records, so Python
 * only sees the rows.
 *
 * Times come from the reader's pairing (it_rrec.duration_ns, active_ns,
 * self_active_ns): self is the time the function itself ran, its greenlet
 * running and not inside a traced child, so the time a greenlet spent
 * switched out is nobody's self time (the wall self less it is
 * self_active_ns).  An exit whose duration is unknown (after a gap) adds
 * nothing.
 *
 * Total does not double count: an exit adds to its row's total only when
 * no frame below it in its greenlet's stack has the same row (the
 * outermost frame of a recursion, as profilers count; for --by greenlet,
 * thread or pid: the greenlet's outermost calls).  Self, calls and the
 * percentiles count every call.  A generator's yield adds its stretch's
 * times but is not a call.
 *
 * Memory: the rows (one per key) and the open stacks, not the trace's
 * length.  One owner, no lock, no Python. */
#ifndef IT_REPORT_H
#define IT_REPORT_H

#include "../../native/it_events.h"  /* before it_rrec.h: the event enum */
#include "it_gstack.h"
#include "it_hist.h"
#include "it_rfuncs.h"
#include "it_rhost.h"
#include "it_rrec.h"
#include "../../native/it_sum.h"

enum { IT_BY_FUNCTION = 0, IT_BY_MODULE, IT_BY_GREENLET, IT_BY_THREAD, IT_BY_PID };

typedef struct {
    int64_t pid, tid;           /* the key: pid/tid/greenlet or func (module: a module index) */
    uint32_t greenlet, func;
    uint32_t next;              /* hash chain */
    uint64_t calls;
    int64_t total, total_active, self_active, self_wall;
    int64_t max, max_active;
    it_hist hist, hist_active;
} it_report_row;

typedef struct {
    int by;
    const it_rfuncs *funcs;     /* the reader's */
    it_rfuncs modules;          /* --by module: module names -> index (as qualnames) */
    uint32_t *func_row;         /* function/module keys: function index -> row + 1 */
    uint32_t nfunc_row;
    it_report_row *rows;        /* [0] unused */
    uint32_t nrows, caprows;
    uint32_t *buckets;          /* greenlet/thread/pid keys */
    uint32_t nbuckets;
    it_gstack stacks;
    uint64_t records, exits, unknown;  /* exits without a known duration */
    uint64_t first_ts, last_ts;
    int64_t wall_offset;        /* of the first record: the trace's start as wall time */
    int oom;
} it_report;

static inline int it_report_init(it_report *r, int by, const it_rfuncs *funcs) {
    memset(r, 0, sizeof *r);
    r->by = by;
    r->funcs = funcs;
    r->caprows = 64;
    r->rows = calloc(r->caprows, sizeof *r->rows);
    r->nrows = 1;
    r->nbuckets = 1024;
    r->buckets = calloc(r->nbuckets, sizeof *r->buckets);
    if (!r->rows || !r->buckets || it_gstack_init(&r->stacks) ||
        (by == IT_BY_MODULE && it_rfuncs_init(&r->modules))) {
        free(r->rows);
        free(r->buckets);
        it_gstack_destroy(&r->stacks);
        memset(r, 0, sizeof *r);
        return -1;
    }
    return 0;
}

static inline void it_report_destroy(it_report *r) {
    for (uint32_t i = 1; i < r->nrows; i++) {
        it_hist_free(&r->rows[i].hist);
        it_hist_free(&r->rows[i].hist_active);
    }
    free(r->rows);
    free(r->buckets);
    free(r->func_row);
    it_gstack_destroy(&r->stacks);
    if (r->by == IT_BY_MODULE)
        it_rfuncs_destroy(&r->modules);
    memset(r, 0, sizeof *r);
}

static inline uint32_t it_report_new_row(it_report *r) {
    if (r->nrows == r->caprows) {
        it_report_row *rows = realloc(r->rows, 2 * r->caprows * sizeof *rows);
        if (!rows) {
            r->oom = 1;
            return 0;
        }
        r->rows = rows;
        r->caprows *= 2;
    }
    memset(&r->rows[r->nrows], 0, sizeof r->rows[0]);
    return r->nrows++;
}

/* The row of a function's record, or 0 when memory runs out. */
static inline uint32_t it_report_func_row(it_report *r, const it_rrec *rec) {
    uint32_t f = rec->func;
    if (f < r->nfunc_row && r->func_row[f])
        return r->func_row[f] - 1;
    if (f >= r->nfunc_row) {
        uint32_t n = r->nfunc_row ? r->nfunc_row : 256;
        while (n <= f)
            n *= 2;
        uint32_t *m = realloc(r->func_row, n * sizeof *m);
        if (!m) {
            r->oom = 1;
            return 0;
        }
        memset(m + r->nfunc_row, 0, (n - r->nfunc_row) * sizeof *m);
        r->func_row = m;
        r->nfunc_row = n;
    }
    uint32_t row;
    if (r->by == IT_BY_MODULE) {
        const char *mod = it_rfuncs_get(r->funcs, f)->module;
        uint32_t m = it_rfuncs_intern(&r->modules, "", 0, mod, strlen(mod), "", 0, 0, 0, NULL);
        if (!m) {
            r->oom = 1;
            return 0;
        }
        /* the first function of the module names the row */
        for (row = 1; row < r->nrows && r->rows[row].greenlet != m; row++)
            ;
        if (row == r->nrows) {
            if (!(row = it_report_new_row(r)))
                return 0;
            r->rows[row].greenlet = m;  /* the module's index */
            r->rows[row].func = f;
        }
    } else {
        if (!(row = it_report_new_row(r)))
            return 0;
        r->rows[row].func = f;
    }
    r->func_row[f] = row + 1;
    return row;
}

static inline uint32_t it_report_key_row(it_report *r, int64_t pid, int64_t tid, uint32_t g) {
    uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ull ^ (uint64_t)tid * 0xC2B2AE3D27D4EB4Full ^
                 (uint64_t)g * 0x165667B19E3779F9ull;
    h ^= h >> 29;
    uint32_t b = (uint32_t)h & (r->nbuckets - 1);
    for (uint32_t i = r->buckets[b]; i; i = r->rows[i].next)
        if (r->rows[i].pid == pid && r->rows[i].tid == tid && r->rows[i].greenlet == g)
            return i;
    uint32_t row = it_report_new_row(r);
    if (!row)
        return 0;
    it_report_row *w = &r->rows[row];
    w->pid = pid;
    w->tid = tid;
    w->greenlet = g;
    w->next = r->buckets[b];
    r->buckets[b] = row;
    if (r->nrows > 2 * r->nbuckets) {  /* rehash: more greenlets than expected */
        uint32_t nb = r->nbuckets * 4;
        uint32_t *bk = calloc(nb, sizeof *bk);
        if (bk) {
            for (uint32_t i = 1; i < r->nrows; i++) {
                it_report_row *x = &r->rows[i];
                uint64_t hh = (uint64_t)x->pid * 0x9E3779B97F4A7C15ull ^
                              (uint64_t)x->tid * 0xC2B2AE3D27D4EB4Full ^
                              (uint64_t)x->greenlet * 0x165667B19E3779F9ull;
                hh ^= hh >> 29;
                uint32_t bb = (uint32_t)hh & (nb - 1);
                x->next = bk[bb];
                bk[bb] = i;
            }
            free(r->buckets);
            r->buckets = bk;
            r->nbuckets = nb;
        }
    }
    return row;
}

static inline uint32_t it_report_row_of(it_report *r, const it_rrec *rec) {
    switch (r->by) {
    case IT_BY_GREENLET: return it_report_key_row(r, rec->pid, rec->tid, rec->greenlet);
    case IT_BY_THREAD: return it_report_key_row(r, rec->pid, rec->tid, 0);
    case IT_BY_PID: return it_report_key_row(r, rec->pid, 0, 0);
    default: return it_report_func_row(r, rec);
    }
}

static inline void it_report_add(it_report *r, const it_rrec *rec) {
    if (!r->records++) {
        r->first_ts = rec->ts;
        r->wall_offset = rec->wall_offset;
    }
    if (rec->ts > r->last_ts)
        r->last_ts = rec->ts;
    if (rec->event == IT_EV_LOST) {
        it_gstack_lost(&r->stacks, rec->pid, rec->tid);
        return;
    }
    if (!it_event_has_code(rec->event))
        return;
    int entry = rec->event == IT_EV_CALL || rec->event == IT_EV_RESUME;
    it_gnode *n = it_gstack_node(&r->stacks, rec->pid, rec->tid, rec->greenlet, entry);
    if (entry) {
        uint32_t row = it_report_row_of(r, rec);
        const it_gframe *parent;
        it_gframe *f = n ? it_gstack_push(&r->stacks, n, rec->depth, rec->func, &parent) : NULL;
        if (f) {
            f->a = row;
            f->mask = (parent ? parent->mask : 0) | 1ull << (row & 63);
        }
        return;
    }
    r->exits++;
    it_gframe f;
    uint32_t row;
    int outermost = 1;
    if (n && it_gstack_pop(n, rec->depth, &f)) {
        row = f.a;
        if (n->len && (n->stack[n->len - 1].mask >> (row & 63) & 1))
            for (uint32_t i = 0; i < n->len && outermost; i++)
                outermost = n->stack[i].a != row;
    } else {
        row = it_report_row_of(r, rec);
    }
    if (n)
        it_gstack_done(&r->stacks, n);
    if (rec->duration_ns < 0) {
        r->unknown++;
        return;
    }
    if (!row)
        return;
    it_report_row *w = &r->rows[row];
    int64_t active = rec->active_ns >= 0 ? rec->active_ns : rec->duration_ns;
    int64_t self_active = rec->self_active_ns >= 0 ? rec->self_active_ns : active;
    /* Saturated: a hostile file's durations may each be up to INT64_MAX. */
    if (outermost) {
        w->total = it_sum_sat(w->total, rec->duration_ns);
        w->total_active = it_sum_sat(w->total_active, active);
    }
    w->self_active = it_sum_sat(w->self_active, self_active);
    w->self_wall = it_sum_sat(w->self_wall, rec->self_ns >= 0 ? rec->self_ns : rec->duration_ns);
    if (rec->event == IT_EV_YIELD)
        return;
    w->calls++;
    if (rec->duration_ns > w->max)
        w->max = rec->duration_ns;
    if (active > w->max_active)
        w->max_active = active;
    if (it_hist_add(&w->hist, rec->duration_ns) || it_hist_add(&w->hist_active, active))
        r->oom = 1;
}

#endif
