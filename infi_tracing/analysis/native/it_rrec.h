/* The reader's record: what every trace source (binary, jsonl, text,
 * syslog-collected text) turns its records into, and what every consumer
 * (decode's writers, replay, report, graph, greenlets, the Perfetto
 * protobuf writer) reads.  One shape, so a command works on every format.
 *
 * Ownership: a record's strings (function names, values) belong to the
 * source or to the reader's function table and stay valid until the next
 * record is read (values) or until the reader is closed (functions).  No
 * Python: the reader runs without the GIL and in the fuzz harness. */
#ifndef IT_RREC_H
#define IT_RREC_H

#include <stdint.h>
#include <stddef.h>

/* Event numbers: IT_EV_* of infi_tracing/native/it_events.h (the binary
 * file stores the same numbers), IT_EV_SWITCH among them: the thread
 * switched to greenlet `greenlet` from `from_greenlet`.  (Included, not
 * defined again: a macro of the same name would break the enum.) */
#include "../../native/it_events.h"

/* A function as the reader knows it: every pid's code id for the same
 * module, qualname, file and line maps to one entry, so reports merge
 * processes.  Index 0 is "no function" (lost, log and switch records). */
typedef struct it_rfunc {
    const char *module, *qualname, *filename;
    int line;
    int nargs;
    const char *const *argnames;
} it_rfunc;

typedef struct it_rrec {
    int event;               /* IT_EV_CALL ... IT_EV_LOG, IT_EV_SWITCH */
    uint64_t ts;             /* monotonic ns (the trace's clock) */
    int64_t wall_offset;     /* wall = ts + wall_offset */
    int64_t pid, tid;
    uint32_t greenlet;
    uint32_t from_greenlet;  /* IT_EV_SWITCH only */
    int32_t depth;
    uint32_t func;           /* index in the reader's function table; 0 for none */
    uint64_t count;          /* IT_EV_LOST: records dropped */
    /* values: a call's arguments, a return's value, an exception's type, a
     * log record's level, logger and message; NUL-separated, `nvalues` of
     * them in `values_len` bytes.  NULL when the record has none. */
    const char *values;
    uint32_t nvalues;
    uint32_t values_len;
    /* On an exit (return, exception, yield), filled by the reader's pairing
     * (infi_tracing/native/it_pair.h), or read from the source when it wrote
     * them: negative when unknown (a gap, or the trace began inside the call). */
    int64_t duration_ns;     /* wall time of the call (of the stretch, for a yield) */
    int64_t active_ns;       /* wall less the time its greenlet was switched out */
    int64_t self_ns, self_active_ns;  /* less the direct children's */
    uint32_t parent_func;    /* the caller's function, 0 when unknown */
    /* where it came from, for error messages and --from/--to */
    uint32_t source;         /* index of the input file */
    uint64_t offset;         /* byte offset of the record (or its line) in that file */
} it_rrec;

#endif
