"""Request ids and Prometheus metrics.

Request id: nginx sends X-Request-ID (the client's, if it is a short token of
safe characters, else its own); without nginx one is made here the same way.
It goes back in the response, and `RequestIdLogFilter` puts it on every log
line written while the request runs (gunicorn's access line takes it from the
response header: gunicorn.conf.py).

Metrics: counters and histograms of prometheus_client. Under gunicorn with
several worker processes, PROMETHEUS_MULTIPROC_DIR makes every process write
its values to files there, and /metrics adds them up (gunicorn.conf.py clears
the directory at start). /metrics is for the scraper on the internal network:
nginx never passes it on.
"""

import contextvars
import logging
import os
import re
import time
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_ID_HEADER = "X-Request-ID"
# The same rule as nginx's (docker/nginx/nginx.conf.template).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default="-"
)

HTTP_REQUESTS = Counter(
    "cart_http_requests",
    "HTTP requests answered, by route, method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "cart_http_request_duration_seconds",
    "Time from the request reaching Django to its answer, by route and method.",
    ["route", "method"],
)
DATABASE_ERRORS = Counter(
    "cart_database_errors",
    "Requests answered 503 because the database failed, by exception class.",
    ["error"],
)
THROTTLED_REQUESTS = Counter(
    "cart_throttled_requests",
    "Requests refused with 429, by rate-limit scope.",
    ["scope"],
)


class RequestIdLogFilter(logging.Filter):
    """Adds `request_id` to every record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class ObservabilityMiddleware:
    """First in MIDDLEWARE: every answer, a 413 or a 500 too, carries the
    request id and is counted."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        # Kept until the response is closed (request_finished, below): Django
        # logs a 4xx or 5xx after the middleware has returned.
        _request_id.set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        # The route's pattern, never the path: one series per route, whatever
        # ids the paths carry; with or without the trailing slash.
        route = match.route.rstrip("/") if match else "unmatched"
        if route != "metrics":
            method = request.method if request.method in _METHODS else "other"
            HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
            HTTP_REQUEST_DURATION.labels(route, method).observe(
                time.perf_counter() - started
            )
        response[REQUEST_ID_HEADER] = request_id
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _request_done(**kwargs: object) -> None:
    _request_id.set("-")


request_finished.connect(_request_done, dispatch_uid="observability-request-id")


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format: this process's values, or with
    PROMETHEUS_MULTIPROC_DIR those of every gunicorn worker, live or gone."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
