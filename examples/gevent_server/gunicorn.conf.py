"""gunicorn settings for app.py, traced from the INFI_TRACING_* environment.

    INFI_TRACING_SINKS=binary:///tmp/app.itr INFI_TRACING_INCLUDE=app \
        gunicorn -c gunicorn.conf.py app:app

gunicorn is optional (not a dependency of infi_tracing); app.py runs without it.
"""

import signal

import infi_tracing
import infi_tracing.auto  # sinks and tracing from INFI_TRACING_*; workers inherit

bind = "127.0.0.1:8080"
worker_class = "gevent"
workers = 2


def post_worker_init(worker):
    """gunicorn resets a worker's SIGUSR1/SIGUSR2 before this hook: install ours now.
    Ours chain to gunicorn's SIGUSR1 handler (reopen the log files), so
    `kill -USR1 <master>` (forwarded to every worker) also writes each worker's stats.
    Toggle with `pkill -USR2 -P <master>`: never SIGUSR2 to the master, which re-executes."""
    infi_tracing.install_signal_handlers(toggle=signal.SIGUSR2, stats=signal.SIGUSR1)
