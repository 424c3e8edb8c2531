/* The reader's driver: several inputs read one after another, each in the
 * format its first bytes show (it_detect.h), every record paired (entries
 * with exits: durations, active and self time, the caller; it_pair.h), then
 * filtered, and handed to the consumer (decode's writers, replay, report,
 * the Perfetto writer...) one it_rrec at a time.
 *
 * Pairing sees every record, before any filter: a filter that drops a
 * callee must not change its caller's self time, nor a --from that starts
 * inside a call its duration.
 *
 * Errors of one input do not stop the others: each input's error (file,
 * byte offset, what was expected) is kept, after every record readable
 * before the bad spot was delivered, and the next input is opened.
 *
 * The --include/--exclude rule lives in Python (infi_tracing/_globs.py):
 * the driver asks `decide` once per function and keeps the answer in a
 * byte per function.  Everything else is C without Python, so the fuzz
 * harness compiles this header (decide NULL) in a plain C program.  One
 * owner, no lock. */
#ifndef IT_READER_H
#define IT_READER_H

#include "it_detect.h"
#include "../../native/it_pair.h"
#include <fcntl.h>

enum { IT_READER_TIME_NONE = 0, IT_READER_TIME_WALL = 1, IT_READER_TIME_RELATIVE = 2 };

typedef struct {
    uint32_t source;    /* the input's index */
    uint64_t offset;    /* byte offset of the bad spot */
    char msg[IT_RSOURCE_ERR];
} it_reader_error;

/* 1: keep the function's records, 0: drop them, -1: failed (a Python
 * exception is set; it_reader_next returns -1). */
typedef int (*it_reader_decide_fn)(void *ctx, uint32_t func);

typedef struct {
    /* filters, set by the caller before the first it_reader_next() */
    int start_kind, end_kind;      /* IT_READER_TIME_* */
    int64_t start_ns, end_ns;      /* wall ns, or ns after the first record's wall time */
    const int64_t *pids, *tids;
    uint32_t npids, ntids;
    const uint32_t *greenlets;     /* a switch record matches by either greenlet */
    uint32_t ngreenlets;
    int has_depth;
    int32_t max_depth;             /* records with depth <= max_depth (0: the outermost) */
    it_reader_decide_fn decide;    /* NULL: every function */
    void *decide_ctx;
} it_reader_filters;

typedef struct {
    it_rfuncs funcs;
    it_pair pair;
    char **paths;                  /* "-": standard input */
    uint32_t npaths;
    uint32_t next_input;           /* the next input to open */
    it_rsource *src;               /* the input being read, NULL between inputs */
    it_reader_error *errors;
    uint32_t nerrors;
    uint64_t *skipped;             /* per input: lines of a text format that were not records */
    uint64_t *skipped_offset;      /* per input: the first of them */
    it_reader_filters f;
    int have_first;
    int64_t first_wall;            /* the first record's wall time: --from/--to in seconds */
    uint8_t *verdict;              /* per function: 0 not asked yet, 1 keep, 2 drop */
    uint32_t nverdict;
    uint64_t records;              /* records read (before filters) */
    int oom;
} it_reader;

/* `paths` are copied.  Returns -1 when memory runs out. */
static inline int it_reader_init(it_reader *r, const char *const *paths, uint32_t npaths) {
    memset(r, 0, sizeof *r);
    if (it_rfuncs_init(&r->funcs) || it_pair_init(&r->pair))
        goto fail;
    r->paths = calloc(npaths ? npaths : 1, sizeof *r->paths);
    r->errors = calloc(npaths ? npaths : 1, sizeof *r->errors);  /* one error per input at most */
    r->skipped = calloc(npaths ? npaths : 1, sizeof *r->skipped);
    r->skipped_offset = calloc(npaths ? npaths : 1, sizeof *r->skipped_offset);
    if (!r->paths || !r->errors || !r->skipped || !r->skipped_offset)
        goto fail;
    for (uint32_t i = 0; i < npaths; i++) {
        r->paths[i] = strdup(paths[i]);
        if (!r->paths[i])
            goto fail;
        r->npaths = i + 1;
    }
    r->npaths = npaths;
    return 0;
fail:
    r->oom = 1;
    return -1;
}

static inline void it_reader_destroy(it_reader *r) {
    if (r->src)
        r->src->destroy(r->src);
    for (uint32_t i = 0; r->paths && i < r->npaths; i++)
        free(r->paths[i]);
    free(r->paths);
    free(r->errors);
    free(r->skipped);
    free(r->skipped_offset);
    free(r->verdict);
    it_pair_destroy(&r->pair);
    it_rfuncs_destroy(&r->funcs);
    memset(r, 0, sizeof *r);
}

static inline void it_reader_error_add(it_reader *r, uint32_t source, uint64_t offset,
                                       const char *msg) {
    it_reader_error *e = &r->errors[r->nerrors++];
    e->source = source;
    e->offset = offset;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
}

/* Opens the next input that can be opened; 0 when none is left. */
static inline int it_reader_open_next(it_reader *r) {
    while (r->next_input < r->npaths) {
        uint32_t i = r->next_input++;
        const char *path = r->paths[i];
        int stdin_ = !strcmp(path, "-");
        int fd = stdin_ ? 0 : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            char msg[IT_RSOURCE_ERR];
            snprintf(msg, sizeof msg, "cannot open: %s", strerror(errno));
            it_reader_error_add(r, i, 0, msg);
            continue;
        }
        it_rinput in;
        char msg[IT_RSOURCE_ERR];
        uint64_t offset = 0;
        if (it_rinput_init(&in, fd, !stdin_)) {
            if (!stdin_)
                close(fd);
            it_reader_error_add(r, i, 0, "out of memory");
            continue;
        }
        r->src = it_detect_open(&in, &r->funcs, i, msg, &offset);
        if (r->src)
            return 1;
        it_rinput_close(&in);
        it_reader_error_add(r, i, offset, msg);
    }
    return 0;
}

/* The input being read (or last read) and the byte offset reached in it. */
static inline uint32_t it_reader_current(const it_reader *r) {
    return r->next_input ? r->next_input - 1 : 0;
}

static inline int it_reader_has_i64(const int64_t *set, uint32_t n, int64_t v) {
    for (uint32_t i = 0; i < n; i++)
        if (set[i] == v)
            return 1;
    return 0;
}

static inline int it_reader_has_u32(const uint32_t *set, uint32_t n, uint32_t v) {
    for (uint32_t i = 0; i < n; i++)
        if (set[i] == v)
            return 1;
    return 0;
}

/* Durations and the caller on an exit; a thread's open entries forgotten
 * after its lost records; greenlet switches. */
static inline void it_reader_pair(it_reader *r, it_rrec *x) {
    it_pair_result res = {0};  /* gcc cannot see that parent_code is set when read */
    switch (x->event) {
    case IT_EV_CALL:
    case IT_EV_RESUME:
        it_pair_enter(&r->pair, x->pid, x->tid, x->greenlet, x->depth, x->func, x->ts);
        break;
    case IT_EV_RETURN:
    case IT_EV_UNWIND:
    case IT_EV_YIELD:
        /* a duration the source read (text, jsonl) stands: it is as exact as the
         * tracer's clock, the timestamps of a text line may not be */
        if (it_pair_exit_given(&r->pair, x->pid, x->tid, x->greenlet, x->depth, x->ts,
                               x->duration_ns, &res)) {
            x->duration_ns = res.wall_ns;
            x->active_ns = res.active_ns;
            x->self_ns = res.self_ns;
            x->self_active_ns = res.self_active_ns;
            x->parent_func = res.has_parent ? res.parent_code : 0;
        }  /* else: the source's duration, if it wrote one, stands */
        break;
    case IT_EV_LOST:
        it_pair_lost_thread(&r->pair, x->pid, x->tid);
        break;
    case IT_EV_OMITTED:  /* duration_ns, active_ns: the time of the calls left out */
        it_pair_omitted(&r->pair, x->pid, x->tid, x->greenlet, x->depth, x->duration_ns,
                        x->active_ns >= 0 ? x->active_ns : x->duration_ns);
        break;
    case IT_EV_SWITCH:
    case IT_EV_LOG:  /* a record of a greenlet: it runs */
        it_pair_switch(&r->pair, x->pid, x->tid, x->greenlet, x->ts);
        break;
    default:
        break;
    }
}

/* A record's wall time, added as unsigned: a damaged file's ts and offset
 * may overflow int64, and must not make undefined behaviour (the lines show
 * the same wrapped sum: it_out_time). */
static inline int64_t it_reader_wall(const it_rrec *x) {
    return (int64_t)(x->ts + (uint64_t)x->wall_offset);
}

/* The first record's wall time plus `ns` (--from/--to in seconds),
 * saturated at the int64 ends for the same reason. */
static inline int64_t it_reader_after_first(const it_reader *r, int64_t ns) {
    int64_t v;
    if (__builtin_add_overflow(r->first_wall, ns, &v))
        return ns > 0 ? INT64_MAX : INT64_MIN;
    return v;
}

/* 1 to keep the record, 0 to drop it, -1 when `decide` failed. */
static inline int it_reader_keep(it_reader *r, const it_rrec *x) {
    const it_reader_filters *f = &r->f;
    if (f->start_kind || f->end_kind) {
        int64_t wall = it_reader_wall(x);
        if (f->start_kind && wall < (f->start_kind == IT_READER_TIME_WALL
                                         ? f->start_ns : it_reader_after_first(r, f->start_ns)))
            return 0;
        if (f->end_kind && wall > (f->end_kind == IT_READER_TIME_WALL
                                       ? f->end_ns : it_reader_after_first(r, f->end_ns)))
            return 0;
    }
    if (f->npids && !it_reader_has_i64(f->pids, f->npids, x->pid))
        return 0;
    if (f->ntids && !it_reader_has_i64(f->tids, f->ntids, x->tid))
        return 0;
    if (x->event == IT_EV_LOST)  /* no greenlet, no depth, no function */
        return 1;
    if (f->ngreenlets && !it_reader_has_u32(f->greenlets, f->ngreenlets, x->greenlet) &&
        !(x->event == IT_EV_SWITCH &&
          it_reader_has_u32(f->greenlets, f->ngreenlets, x->from_greenlet)))
        return 0;
    if (x->event == IT_EV_SWITCH)
        return 1;
    if (f->has_depth && x->depth > f->max_depth)
        return 0;
    if (!x->func || !f->decide)
        return 1;
    if (x->func >= r->nverdict) {
        uint32_t n = r->nverdict ? r->nverdict : 256;
        while (n <= x->func)
            n *= 2;
        uint8_t *v = realloc(r->verdict, n);
        if (!v) {
            r->oom = 1;
            return 1;  /* unfiltered rather than lost */
        }
        memset(v + r->nverdict, 0, n - r->nverdict);
        r->verdict = v;
        r->nverdict = n;
    }
    if (!r->verdict[x->func]) {
        int keep = f->decide(f->decide_ctx, x->func);
        if (keep < 0)
            return -1;
        r->verdict[x->func] = keep ? 1 : 2;
    }
    return r->verdict[x->func] == 1;
}

/* The next record that passes the filters: 1, or 0 when every input is
 * read (errors in r->errors), or -1 when `decide` failed. */
static inline int it_reader_next(it_reader *r, it_rrec *out) {
    for (;;) {
        if (!r->src && !it_reader_open_next(r))
            return 0;
        out->duration_ns = out->active_ns = out->self_ns = out->self_active_ns = -1;
        out->parent_func = 0;
        int got = r->src->next(r->src, out);
        if (got <= 0) {
            if (got < 0)
                it_reader_error_add(r, r->src->index, r->src->err_offset, r->src->err);
            r->skipped[r->src->index] = r->src->skipped;
            r->skipped_offset[r->src->index] = r->src->skipped_offset;
            r->src->destroy(r->src);
            r->src = NULL;
            continue;
        }
        r->records++;
        if (!r->have_first) {
            r->have_first = 1;
            r->first_wall = it_reader_wall(out);
        }
        it_reader_pair(r, out);
        int keep = it_reader_keep(r, out);
        if (keep)
            return keep;
    }
}

#endif
