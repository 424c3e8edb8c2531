/* libFuzzer harness for the native trace reader: arbitrary bytes go through
 * the reader exactly as the commands take a file, i.e. a path opened and
 * read with read(2) (it_reader.h -> it_detect.h -> the format's source),
 * paired (it_pair.h), filtered, and consumed by decode's text and JSON-lines
 * writers and by replay --min-duration (it_rwrite.h, it_replay.h, the live
 * sinks' formatting of it_lines.h), and by the aggregators of report, graph
 * and greenlets where the tree has them.  Whatever format it_detect.h
 * recognises is fuzzed through this one entry, so a source added there is
 * covered without touching this file.
 *
 * Built by `make test-fuzz` with clang -fsanitize=fuzzer,address,undefined
 * (see the Makefile); the crashes it found are replayed through every
 * command by tests/test_fuzz_crashes.py.
 *
 * How the input reaches the reader: the bytes are written to a memfd, and
 * the reader opens "/proc/self/fd/N" as it opens any path (a new open file
 * description, read from offset 0).  The Makefile shrinks the reader's
 * buffers (-DIT_RINPUT_START, IT_RINPUT_MAX, IT_RWRITE_BUF): their growth and
 * the writers' flushes are exercised by small inputs, and each run allocates
 * little (big allocations under ASan cost a hundred times the parse).  Only
 * the first bytes of the input buffer hold the file, so ASan alone would not
 * see a read past the file's end: read(2) is wrapped (-Wl,--wrap=read), and
 * after each read the part of the buffer the read was offered but did not
 * fill is poisoned, so the bytes past what the file gave are out of bounds
 * for ASan, as they are for the format.
 *
 * The same bytes also choose the run's options (a hash of them): one or two
 * inputs (the same file twice: several inputs, function table shared),
 * replay's threshold, and the filters (depth, relative time, pid, tid,
 * greenlet, a decide callback like --include's), so the filter code and the
 * verdict table are exercised without a prefix that would spoil the seeds
 * taken from real traces.  One process, no threads, no Python. */
#define _GNU_SOURCE
#include "../../infi_tracing/analysis/native/it_reader.h"
#include "../../infi_tracing/analysis/native/it_replay.h"
/* The analysis commands' aggregators, where this tree has them (they came
 * on a branch of their own): report, graph, greenlets. */
#if __has_include("../../infi_tracing/analysis/native/it_report.h")
#include "../../infi_tracing/analysis/native/it_report.h"
#define FUZZ_REPORT 1
#endif
#if __has_include("../../infi_tracing/analysis/native/it_graph.h")
#include "../../infi_tracing/analysis/native/it_graph.h"
#define FUZZ_GRAPH 1
#endif
#if __has_include("../../infi_tracing/analysis/native/it_glets.h")
#include "../../infi_tracing/analysis/native/it_glets.h"
#define FUZZ_GLETS 1
#endif

#include <fcntl.h>
#include <sanitizer/asan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

ssize_t __real_read(int fd, void *buf, size_t count);

/* read(2) for the headers compiled into this program (--wrap=read): the
 * offered but unfilled part of the buffer becomes unaddressable until a
 * later read fills it (a memmove into it by it_rinput_need unpoisons
 * nothing, but it only moves bytes into the front part, already filled). */
ssize_t __wrap_read(int fd, void *buf, size_t count) {
    ASAN_UNPOISON_MEMORY_REGION(buf, count);
    ssize_t got = __real_read(fd, buf, count);
    size_t filled = got > 0 ? (size_t)got : 0;
    ASAN_POISON_MEMORY_REGION((char *)buf + filled, count - filled);
    return got;
}

static int memfd = -1, devnull = -1;
static char path[64];

/* The decide callback (as --include/--exclude): keep even functions; the
 * answer is cached per function by the reader's verdict table. */
static int decide_even(void *ctx, uint32_t func) {
    (void)ctx;
    return !(func & 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    memfd = memfd_create("fuzz_reader_input", MFD_CLOEXEC);
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (memfd < 0 || devnull < 0) {
        perror("fuzz_reader: memfd_create or /dev/null");
        abort();
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
    return 0;
}

static uint64_t hash_bytes(const uint8_t *data, size_t size) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (ftruncate(memfd, 0) || (size && pwrite(memfd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_reader: writing the memfd");
        abort();
    }
    uint64_t opt = hash_bytes(data, size);
    const char *paths[2] = {path, path};
    it_reader r;
    if (it_reader_init(&r, paths, (opt & 7) == 0 ? 2 : 1))
        abort();  /* out of memory: not the input's fault, but not expected either */
    /* Filters on one run in four: most runs see every record, as decode does. */
    int64_t pid_or_tid = (int64_t)(opt >> 32 & 0xff);
    uint32_t greenlet = (uint32_t)(opt >> 40 & 3);
    if ((opt >> 3 & 3) == 0) {
        r.f.has_depth = 1;
        r.f.max_depth = (int32_t)(opt >> 8 & 7);
        r.f.start_kind = IT_READER_TIME_RELATIVE;
        r.f.start_ns = (int64_t)(opt >> 12 & 0xff) * 1000;
        r.f.end_kind = (opt >> 20 & 1) ? IT_READER_TIME_WALL : IT_READER_TIME_NONE;
        r.f.end_ns = INT64_MAX / 2;
        if (opt >> 21 & 1) {
            r.f.pids = &pid_or_tid;
            r.f.npids = 1;
        } else {
            r.f.tids = &pid_or_tid;
            r.f.ntids = 1;
        }
        r.f.greenlets = &greenlet;
        r.f.ngreenlets = opt >> 22 & 1;
        r.f.decide = decide_even;
    }
    it_rwrite text, jsonl, replayed;
    it_replay rp;
    if (it_rwrite_init(&text, devnull, IT_FORMAT_TEXT) ||
        it_rwrite_init(&jsonl, devnull, IT_FORMAT_JSONL) ||
        it_rwrite_init(&replayed, devnull, IT_FORMAT_TEXT) ||
        it_replay_init(&rp, &replayed, &r.funcs, (int64_t)(opt >> 24 & 0xff) * 100))
        abort();
#ifdef FUZZ_REPORT
    it_report rep;  /* by function or by greenlet: the two ways rows are keyed */
    if (it_report_init(&rep, (opt >> 44 & 1) ? IT_BY_GREENLET : IT_BY_FUNCTION, &r.funcs))
        abort();
#endif
#ifdef FUZZ_GRAPH
    it_graph graph;
    if (it_graph_init(&graph, &r.funcs, (opt >> 45 & 1) ? "*" : "b", (int32_t)(opt >> 46 & 7)))
        abort();
#endif
#ifdef FUZZ_GLETS
    it_glets glets;
    if (it_glets_init(&glets, &r.funcs, (int64_t)(opt >> 49 & 0xff), (int)(opt >> 57 & 1), 64))
        abort();
#endif
    it_rrec rec;
    while (it_reader_next(&r, &rec) > 0) {
        const it_rfunc *f = it_rfuncs_get(&r.funcs, rec.func);
        it_rwrite_record(&text, &rec, f);
        it_rwrite_record(&jsonl, &rec, f);
        it_replay_record(&rp, &rec);
#ifdef FUZZ_REPORT
        it_report_add(&rep, &rec);
#endif
#ifdef FUZZ_GRAPH
        it_graph_add(&graph, &rec);
#endif
#ifdef FUZZ_GLETS
        it_glets_add(&glets, &rec);
#endif
    }
#ifdef FUZZ_REPORT
    it_report_destroy(&rep);
#endif
#ifdef FUZZ_GRAPH
    it_graph_destroy(&graph);
#endif
#ifdef FUZZ_GLETS
    it_glets_finish(&glets);
    it_glets_destroy(&glets);
#endif
    /* what the commands print of an error: the message must be a C string */
    for (uint32_t i = 0; i < r.nerrors; i++)
        if (strnlen(r.errors[i].msg, sizeof r.errors[i].msg) == sizeof r.errors[i].msg)
            abort();
    it_rwrite_flush(&text);
    it_rwrite_flush(&jsonl);
    it_rwrite_flush(&replayed);
    it_replay_destroy(&rp);
    it_rwrite_destroy(&replayed);
    it_rwrite_destroy(&jsonl);
    it_rwrite_destroy(&text);
    it_reader_destroy(&r);
    return 0;
}
