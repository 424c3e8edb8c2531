/* Record kinds: the numbers rings, binary trace files and the reader share,
 * and their names.  No Python here: the trace reader and its fuzz harness
 * include it too. */
#ifndef IT_EVENTS_H
#define IT_EVENTS_H

/* Record kinds in the ring. */
enum {
    IT_EV_PAD = 0,     /* filler up to the end of the ring; never formatted */
    IT_EV_CALL = 1,
    IT_EV_RETURN = 2,
    IT_EV_UNWIND = 3,  /* the frame exits with an exception */
    IT_EV_RESUME = 4,  /* a generator/coroutine frame is re-entered */
    IT_EV_YIELD = 5,   /* a generator/coroutine frame is left by yield/await */
    IT_EV_LOST = 6,    /* `count` records of this thread were dropped here */
    IT_EV_LOG = 7,     /* a logging record: values level, logger, message; no code */
    IT_EV_SWITCH = 8,  /* the thread switched greenlets: greenlet_id is the one switched to,
                        * code_id the one switched from; no code, no values */
    IT_EV_OMITTED = 9, /* before a written call's exit: children a sink with slow-call
                        * retention left out (it_slow.h); payload: calls, wall, active ns */
    IT_EV_COUNT
};

/* The name of each record kind: the "event" of JSON lines, syslog messages
 * and Python sinks' records (_core.EVENT_NAMES hands it to Python).  Beside
 * the enum, by index, so a new kind cannot leave a hole or shift a name. */
static const char *const it_event_names[IT_EV_COUNT] = {
    [IT_EV_PAD] = "pad",       [IT_EV_CALL] = "call",   [IT_EV_RETURN] = "return",
    [IT_EV_UNWIND] = "exception", [IT_EV_RESUME] = "resume", [IT_EV_YIELD] = "yield",
    [IT_EV_LOST] = "lost",     [IT_EV_LOG] = "log",     [IT_EV_SWITCH] = "switch",
    [IT_EV_OMITTED] = "omitted",
};

/* The events that name a function (a code id into the registry, or into a
 * trace file's code table); the others are "lost", "log" and "switch". */
static inline int it_event_has_code(int ev) { return ev >= IT_EV_CALL && ev <= IT_EV_YIELD; }

/* Notices, not records: "lost" (drops reported in the stream) and "switch"
 * (a greenlet switch, for the pairing and binary files).  The records a sink
 * accounts for (written + lost + pending) and tracing_stats()'s "records"
 * leave them out; text, JSON lines, syslog and Python sinks show "lost"
 * and "omitted" notices and skip switches. */
static inline int it_event_is_notice(int ev) {
    return ev == IT_EV_LOST || ev == IT_EV_SWITCH || ev == IT_EV_OMITTED;
}

#endif
