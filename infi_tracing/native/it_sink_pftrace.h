/* The live Perfetto protobuf sink (perfetto+proto:///path.pftrace): the
 * drain thread encodes each batch with it_pftrace.h into the sink's buffer,
 * without the GIL, and writes it out as the fd sinks do (it_sinks.h: the
 * same buffer, marks and accounting: records written + lost + pending ==
 * records handed over; "lost N" notices are not records).  Every write()
 * holds whole packets, so a file cut short by a crash loads as far as it
 * goes. */
#ifndef IT_SINK_PFTRACE_H
#define IT_SINK_PFTRACE_H

#include "it_sinks.h"
#include "it_pftrace.h"

static inline it_pft *it_pft_new(void) {
    it_pft *e = malloc(sizeof *e);
    if (e && it_pft_init(e, 0) < 0) {
        free(e);
        return NULL;
    }
    return e;
}

static inline void it_pft_free(it_pft *e) {
    if (e) {
        it_pft_destroy(e);
        free(e);
    }
}

/* One record into the buffer, writing it out as often as the encoder
 * asks.  0: the sink failed (the record was not written). */
static int it_sink_pftrace_one(it_sink *s, const it_record *rec, long pid, long tid) {
    it_pft *e = s->pftrace;
    const it_code_entry *code = it_record_code(rec);
    for (;;) {
        if (!it_sink_room(s, IT_PFT_STEP_MAX))
            return 0;
        it_out o = {s->buf + s->len, 0, IT_SINK_BUF - s->len};
        int rc;
        if (rec->event == IT_EV_LOST)
            rc = it_pft_lost(e, &o, pid, tid, rec->ts, rec->count);
        else if (rec->event == IT_EV_LOG)
            rc = it_pft_log(e, &o, pid, tid, rec->greenlet_id, rec->ts, it_record_value(rec, 0),
                            it_record_value(rec, 1), it_record_value(rec, 2));
        else if (code)
            rc = it_pft_event(e, &o, rec->event, pid, tid, rec->greenlet_id, rec->depth, rec->ts,
                              rec->code_id, code->module, code->qualname);
        else
            rc = IT_PFT_DONE;  /* switch records: the tracks show them */
        s->len += o.len;
        if (rc == IT_PFT_DONE)
            return 1;
        /* out of room part way: the whole steps taken stay in the buffer
         * (unmarked, written with the next write-out, which it_sink_room
         * does now); the encoder goes on after them */
    }
}

static void it_sink_pftrace_batch(it_sink *s, const it_ring *r, const it_record **recs, size_t n,
                                  long pid, int64_t wall_offset) {
    s->pftrace->wall_offset = wall_offset;
    for (size_t i = 0; i < n; i++) {
        if (s->failed || !it_sink_pftrace_one(s, recs[i], pid, r->tid)) {
            it_sink_give_up(s, recs + i, n - i);
            return;
        }
        if (recs[i]->event != IT_EV_LOST)
            it_sink_mark_end(s, 1);
    }
}

/* The last pass: slices still open are ended (it_pft_finish), then all is
 * written out. */
static void it_sink_pftrace_finish(it_sink *s) {
    while (!s->failed) {
        it_out o = {s->buf + s->len, 0, IT_SINK_BUF - s->len};
        int rc = it_pft_finish(s->pftrace, &o);
        s->len += o.len;
        if (rc == IT_PFT_DONE)
            break;
        it_sink_write_out(s);
    }
}

#endif
