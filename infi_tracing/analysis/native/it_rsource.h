/* A trace source: one input file in one format (binary, jsonl, text or
 * syslog-collected text), read as a stream of it_rrec.  The reader
 * (it_reader.h) holds one per input, detects the format from the file's
 * first bytes, and pairs, filters and hands the records on; each format is
 * one implementation of this interface, in its own header.
 *
 * Contract of next():
 *  - 1: *out holds the next record (its strings valid until the next call);
 *  - 0: the input ended cleanly;
 *  - -1: the input is damaged, cut short, or cannot be read: `err` says what
 *    was expected, `err_offset` the byte offset of the bad spot.  Every
 *    record before that spot has been delivered.  next() is not called again.
 * Memory: bounded whatever the input's length (a source reads through a
 * buffer of its own; only the function table grows, with distinct names). */
#ifndef IT_RSOURCE_H
#define IT_RSOURCE_H

#include "it_rfuncs.h"

#define IT_RSOURCE_ERR 512

typedef struct it_rsource it_rsource;
struct it_rsource {
    int (*next)(it_rsource *s, it_rrec *out);
    void (*destroy)(it_rsource *s);  /* closes what the source opened and frees it */
    it_rfuncs *funcs;                /* the reader's, shared by every source */
    uint32_t index;                  /* the input's number, put in it_rrec.source */
    char err[IT_RSOURCE_ERR];
    uint64_t err_offset;
    /* Text formats: lines that were not trace records (other programs'
     * syslog messages, a torn last line, a damaged line), skipped and
     * counted, not fatal; the offset of the first.  0 for binary. */
    uint64_t skipped;
    uint64_t skipped_offset;
};

#endif
