"""gunicorn settings for production; each can be overridden from the environment."""

import gc
import multiprocessing
import os
import shutil
import tempfile

wsgi_app = "cartproject.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Threaded workers keep client connections alive (a sync worker closes every
# one) and overlap one request's database round trips with another's Python
# work; with threads, one process per core plus one is enough (bench/README.md).
workers = int(
    os.environ.get("GUNICORN_WORKERS")
    or os.environ.get("WEB_CONCURRENCY")
    or multiprocessing.cpu_count() + 1
)
# gthread, whose main thread also answers the liveness probe: /healthz never
# waits for a thread that cart requests hold (cartproject/worker.py).
worker_class = os.environ.get(
    "GUNICORN_WORKER_CLASS", "cartproject.worker.ProbeAnsweringWorker"
)
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so a slow leak can never grow without bound;
# the jitter keeps them from all restarting at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "1000"))
# One line per request on stdout. Behind nginx, which logs every request with
# the same request id (docker/nginx), GUNICORN_ACCESS_LOG=0 saves its cost
# (bench/README.md, "Issue 14"). Read as cartproject.settings.env_bool reads
# every boolean setting: unset or empty keeps the default.
accesslog = (
    "-"
    if os.environ.get("GUNICORN_ACCESS_LOG", "").strip().lower()
    in {"", "1", "true", "yes", "on"}
    else None
)
errorlog = "-"
# gunicorn's control socket (gunicornc) is one path per user by default,
# ~/.gunicorn/gunicorn.ctl: every instance on a host would bind the same file,
# the last one started taking it from the others. None unless
# GUNICORN_CONTROL_SOCKET names this instance's own.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
control_socket_disable = not control_socket
# The default format without the referer; headers (and so tokens) never appear,
# but the request id the service answered with does (carts.observability).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'

# Prometheus metrics add up across the worker processes through files in one
# directory (carts.observability), which must be set before a worker imports
# prometheus_client: here, in the master. Emptied at start, so the counters
# start at zero with the server; a directory made here goes at exit.
_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="cart-metrics-")
)


def on_starting(server) -> None:
    shutil.rmtree(metrics_dir, ignore_errors=True)
    os.makedirs(metrics_dir)


def on_exit(server) -> None:
    if _own_metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def post_worker_init(worker) -> None:
    # The loaded application's objects (about 90,000) live as long as the
    # worker: out of the collector's sight, its full collections scan only
    # what requests left behind (bench/README.md, "Counting instructions").
    gc.freeze()
