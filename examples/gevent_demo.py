"""A small gevent program traced to stdout.

Three workers run the same short call chain concurrently; each greenlet has
its own id (gN) and its own indentation, so the interleaved lines still
read as three correctly nested traces.  Run it with `make demo`.
"""

import gevent

import infi_tracing


def lookup(key):
    gevent.sleep(0.001 * key)  # yields to the other greenlets
    return key * key


def handle(worker, key):
    return lookup(key) + worker


def worker(worker_id, keys):
    return sum(handle(worker_id, key) for key in keys)


def only_this_program(frame):
    """Trace this file's functions, with argument values; not gevent's."""
    if frame.f_globals.get("__name__") == "__main__":
        return infi_tracing.TRACE_FUNC_PRIMITIVES
    return infi_tracing.NO_TRACE


def main():
    infi_tracing.tracing_output_to_stdout()
    infi_tracing.set_tracing(only_this_program)
    jobs = []
    for worker_id in (1, 2, 3):
        jobs.append(gevent.spawn(worker, worker_id, [worker_id, worker_id + 1]))
    gevent.joinall(jobs)
    infi_tracing.unset_tracing()
    print("results:", [job.value for job in jobs])


if __name__ == "__main__":
    main()
