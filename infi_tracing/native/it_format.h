/* Formatting ring records as text lines or JSON lines, in the drain thread
 * without the GIL: everything comes from the record, the ring (thread id)
 * and the native code registry; the formatting itself is it_lines.h's,
 * which the trace reader shares. */
#ifndef IT_FORMAT_H
#define IT_FORMAT_H

#include "it_ring.h"
#include "it_registry.h"
#include "it_out.h"
#include "it_lines.h"
#include "it_slow_state.h"  /* the "omitted" record's payload */

static inline const char *it_record_value(const it_record *r, int i) {
    return it_values_at((const char *)(r + 1), r->size - sizeof *r, i);
}

/* The live registry's entry a record names; NULL for "lost" (whose code id
 * is part of its count), "log" and "switch" records. */
static inline const it_code_entry *it_record_code(const it_record *r) {
    return it_event_has_code(r->event) ? it_registry_get(r->code_id) : NULL;
}

static inline it_fmt_rec it_fmt_rec_of(const it_record *r) {
    it_fmt_rec v = {r->event, r->ts, r->greenlet_id, r->depth, 0, (const char *)(r + 1),
                    r->size - sizeof *r, r->nvalues};
    if (r->event == IT_EV_LOST)
        v.count = r->count;
    if (r->event == IT_EV_OMITTED && r->size >= IT_OMITTED_SIZE) {
        const it_omitted_payload *o = it_omitted_of(r);
        v.count = o->calls;
        v.omitted_ns = o->wall_ns;
        v.omitted_active_ns = o->active_ns;
        v.values = NULL;
        v.values_len = 0;
    }
    return v;
}

static inline it_fmt_func it_fmt_func_of(const it_code_entry *e) {
    it_fmt_func f = {"", "", "", 0, 0, NULL, NULL, 0, 0};
    if (e)
        f = (it_fmt_func){e->module, e->qualname, e->filename, e->firstlineno, e->nargs,
                          (const char *const *)e->argnames};
    return f;
}

/* The same three for a ring record and the registry entry it names (NULL
 * for "lost", "log" and "switch"): the drain's sinks. */
static inline void it_format_body(it_out *o, const it_record *r, const it_code_entry *e, long tid,
                                  int values, int64_t duration_ns) {
    it_fmt_rec v = it_fmt_rec_of(r);
    it_fmt_func f = it_fmt_func_of(e);
    it_format_body_v(o, &v, &f, tid, values, duration_ns);
}

static inline void it_format_text(it_out *o, const it_record *r, const it_code_entry *e, long pid,
                                  long tid, int64_t wall_offset, int values, int64_t duration_ns) {
    it_fmt_rec v = it_fmt_rec_of(r);
    it_fmt_func f = it_fmt_func_of(e);
    it_format_text_v(o, &v, &f, pid, tid, wall_offset, values, duration_ns);
}

static inline void it_format_jsonl(it_out *o, const it_record *r, const it_code_entry *e, long pid,
                                   long tid, int64_t wall_offset, int values, int64_t duration_ns) {
    it_fmt_rec v = it_fmt_rec_of(r);
    it_fmt_func f = it_fmt_func_of(e);
    it_format_jsonl_v(o, &v, &f, pid, tid, wall_offset, values, duration_ns);
}

#endif
