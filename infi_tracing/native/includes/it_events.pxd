# Declarations of it_events.h: record kinds and their names.
cdef extern from "it_events.h" nogil:
    enum:
        IT_EV_PAD
        IT_EV_CALL
        IT_EV_RETURN
        IT_EV_UNWIND
        IT_EV_RESUME
        IT_EV_YIELD
        IT_EV_LOST
        IT_EV_LOG
        IT_EV_SWITCH
        IT_EV_OMITTED
        IT_EV_COUNT
    const char *const it_event_names[]
    int it_event_has_code(int ev)
    int it_event_is_notice(int ev)
