"""OpenTelemetry traces: a span per REST request and per gRPC call, a child
span per SQL statement, the caller's W3C `traceparent` continued; exported by
OTLP over HTTP only when the standard OTEL_* variables ask for it.

Off by default: unless asked, nothing of OpenTelemetry is even imported, so a
server pays nothing for it (docs/kubernetes.md#tracing has the bench figure).
It is on when OTEL_TRACES_EXPORTER is `otlp`, or when that is unset and an
OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
is given; OTEL_SDK_DISABLED=true turns it off whatever else is set. Everything
else (service name, resource attributes, sampler, propagators, batching, the
exporter's headers and timeouts, excluded URLs) is read by OpenTelemetry
itself from its own variables (docs/configuration.md#tracing).

`configure()` runs in each server process before Django loads its middleware:
cartproject/wsgi.py (each gunicorn worker, after the fork) and manage.py (the
gRPC server and the other commands).
"""

import os

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.http.response import HttpResponseBase

# The span attribute with the request's id (carts.api.observability), the one in
# the X-Request-ID header and on the log lines.
REQUEST_ID_ATTRIBUTE = "cart.request_id"
# Probes and scrapes come every few seconds and would drown the traces. A
# regular expression on the whole URL: a cart whose id is "healthz" is traced.
DEFAULT_EXCLUDED_URLS = r"^https?://[^/]+/(healthz|readyz|metrics)/?(\?.*)?$"
DEFAULT_SERVICE_NAME = "cartservice"

_configured = False


def requested() -> bool:
    """Whether the environment asks for traces (the module docstring's rule)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return any(
        os.environ.get(name, "").strip()
        for name in (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        )
    )


def _check_supported() -> None:
    """Refuse, at start, a configuration this image cannot honour, rather
    than serve without the traces it asked for."""
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporters not in {"", "otlp"}:
        raise ImproperlyConfigured(
            f"OTEL_TRACES_EXPORTER={exporters!r}: only 'otlp' (or 'none') is supported"
        )
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol != "http/protobuf":
        raise ImproperlyConfigured(
            f"OTLP protocol {protocol!r}: only 'http/protobuf' is supported "
            "(an OpenTelemetry Collector's port 4318)"
        )


def _add_request_id(span, request: HttpRequest, response: HttpResponseBase) -> None:
    if span.is_recording() and "X-Request-ID" in response:
        span.set_attribute(REQUEST_ID_ATTRIBUTE, response["X-Request-ID"])


def _statements_in_requests_only(configured):
    """The configured sampler, except that a SQL statement run outside any
    request or call (the gRPC server's database check, every few seconds)
    starts no trace of its own."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class StatementsInRequestsOnly(Sampler):
        def should_sample(
            self, parent_context, trace_id, name, kind=None, *args, **kwargs
        ):
            parent = trace.get_current_span(parent_context).get_span_context()
            # The database spans are the only CLIENT spans the service makes.
            if kind is trace.SpanKind.CLIENT and not parent.is_valid:
                return SamplingResult(Decision.DROP)
            return configured.should_sample(
                parent_context, trace_id, name, kind, *args, **kwargs
            )

        def get_description(self) -> str:
            return f"StatementsInRequestsOnly{{{configured.get_description()}}}"

    return StatementsInRequestsOnly()


def configure() -> None:
    """Set up tracing in this process if the environment asks for it; once."""
    global _configured
    if _configured or not requested():
        return
    _check_supported()

    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorServer, filters
    from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # From OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; Online Boutique's
    # name for the service when they give none.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME)).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    # Wraps the sampler OTEL_TRACES_SAMPLER chose, before any tracer takes it.
    provider.sampler = _statements_in_requests_only(provider.sampler)
    # Batched in a thread of the process: a request never waits for export.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)

    DjangoInstrumentor().instrument(
        excluded_urls=os.environ.get(
            "OTEL_PYTHON_DJANGO_EXCLUDED_URLS", DEFAULT_EXCLUDED_URLS
        ),
        response_hook=_add_request_id,
    )
    # Patches grpc.server: the interceptor comes before the server's own, so
    # the call's span holds its database work. The kubelet's health checks
    # are left out, like the REST probes.
    GrpcInstrumentorServer(filter_=filters.negate(filters.health_check())).instrument()
    # Psycopg2 patches psycopg2.connect: every connection Django opens after
    # this gets a cursor that makes a span per statement (text, no values).
    Psycopg2Instrumentor().instrument()
    _configured = True
