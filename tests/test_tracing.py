"""OpenTelemetry (cartproject/tracing.py): real gunicorn and gRPC servers,
asked for traces by the standard OTEL_* variables, export them to a real
OTLP/HTTP receiver started here, which decodes the protobuf they send."""

import gzip
import http.client
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from cartproject.tracing import requested
from carts.grpc.cart_pb2 import AddItemRequest, CartItem, GetCartRequest
from devtools.liveservice import ROOT, GrpcServer, Gunicorn

from .conftest import database_url_for_tests

pytestmark = pytest.mark.django_db(transaction=True)

MUG = "6E92ZMYYFZ"


class ReceivedSpan:
    """One span as the receiver decoded it, with its service's name."""

    def __init__(self, service: str, span: Span) -> None:
        self.service = service
        self.name = span.name
        self.kind = span.kind
        self.trace_id = span.trace_id.hex()
        self.span_id = span.span_id.hex()
        self.parent_span_id = span.parent_span_id.hex()
        self.attributes = {
            attribute.key: getattr(
                attribute.value, attribute.value.WhichOneof("value") or "string_value"
            )
            for attribute in span.attributes
        }

    def __repr__(self) -> str:
        return f"<{self.service} {self.name} {self.span_id}<-{self.parent_span_id}>"


class OtlpReceiver:
    """An OTLP/HTTP trace receiver on a free port: POST /v1/traces with an
    ExportTraceServiceRequest (gzip or not), as a Collector's port 4318."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                assert self.path == "/v1/traces", self.path
                assert self.headers["Content-Type"] == "application/x-protobuf"
                receiver.take(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self, export: ExportTraceServiceRequest) -> None:
        for resource_spans in export.resource_spans:
            service = next(
                attribute.value.string_value
                for attribute in resource_spans.resource.attributes
                if attribute.key == "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                with self.lock:
                    self.spans.extend(
                        ReceivedSpan(service, span) for span in scope_spans.spans
                    )

    def received(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)

    def trace(self, trace_id: str, *, until, timeout: float = 30) -> list:
        """The spans of `trace_id` once `until(spans)` holds."""
        deadline = time.monotonic() + timeout
        while True:
            spans = [span for span in self.received() if span.trace_id == trace_id]
            if until(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"trace {trace_id}: only {spans}")
            time.sleep(0.1)

    def span_named(self, name: str, timeout: float = 30) -> ReceivedSpan:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for span in self.received():
                if span.name == name:
                    return span
            time.sleep(0.1)
        raise AssertionError(f"no span {name}: only {self.names()}")

    def names(self) -> set[str]:
        return {span.name for span in self.received()}

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with OtlpReceiver() as receiver:
        yield receiver


def tracing_env(receiver: OtlpReceiver, service: str) -> dict[str, str]:
    """What a deployment sets (deploy/kubernetes), the batch delay shortened."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": service,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def caller_context() -> tuple[str, str, str]:
    """A caller's trace id, span id and the `traceparent` that carries them."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def server_and_statements(spans: list, caller_span_id: str):
    """The span the server made for the caller's request, and the SQL spans."""
    server = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
    statements = [span for span in spans if span.kind == Span.SPAN_KIND_CLIENT]
    assert len(server) == 1, spans
    assert server[0].parent_span_id == caller_span_id
    return server[0], statements


def has_server_and_statement(spans: list) -> bool:
    kinds = {span.kind for span in spans}
    return {Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT} <= kinds


def test_a_rest_request_continues_the_callers_trace_with_its_sql_as_children(
    receiver, make_client, catalog, tmp_path
):
    alice = make_client("alice")
    trace_id, caller_span_id, traceparent = caller_context()
    env = tracing_env(receiver, "cart-web-test")
    with Gunicorn(database_url_for_tests(), tmp_path, workers=1, env=env) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request(
            "GET",
            "/cart/alice",
            headers={
                "Authorization": f"Token {alice.token}",
                "traceparent": traceparent,
                "X-Request-ID": "trace-me-1",
            },
        )
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == 200
        spans = receiver.trace(trace_id, until=has_server_and_statement)

    request, statements = server_and_statements(spans, caller_span_id)
    assert request.service == "cart-web-test"
    assert request.name == "GET cart/<id:user_id>"
    assert request.attributes["cart.request_id"] == "trace-me-1"
    assert request.attributes["http.status_code"] == 200
    assert {span.parent_span_id for span in statements} == {request.span_id}
    assert all(span.attributes["db.system"] == "postgresql" for span in statements)
    assert any("cart" in span.attributes["db.statement"] for span in statements)
    # The readiness polls of Gunicorn's start are probes: no spans.
    assert not any("healthz" in name for name in receiver.names())


def test_a_grpc_call_continues_the_callers_trace_with_its_sql_as_children(
    receiver, catalog, tmp_path
):
    trace_id, caller_span_id, traceparent = caller_context()
    env = tracing_env(receiver, "cartservice-test")
    with GrpcServer(database_url_for_tests(), tmp_path, env=env) as server:
        server.cart.AddItem(
            AddItemRequest(user_id="bob", item=CartItem(product_id=MUG, quantity=2)),
            metadata=(("traceparent", traceparent),),
            timeout=30,
        )
        spans = receiver.trace(trace_id, until=has_server_and_statement)
        # A call without a traceparent starts a trace of its own.
        server.cart.GetCart(GetCartRequest(user_id="bob"), timeout=30)
        own = receiver.span_named("/hipstershop.CartService/GetCart")

    call, statements = server_and_statements(spans, caller_span_id)
    assert call.service == "cartservice-test"
    assert call.name == "/hipstershop.CartService/AddItem"
    assert call.attributes["rpc.grpc.status_code"] == grpc.StatusCode.OK.value[0]
    assert own.trace_id != trace_id
    assert own.parent_span_id == ""
    assert {span.parent_span_id for span in statements} == {call.span_id}
    assert any("INSERT" in span.attributes["db.statement"] for span in statements)
    # Neither the health checks (probes) nor the server's own database checks
    # outside any call make spans.
    assert not any("Health" in name for name in receiver.names())
    statements_anywhere = receiver.received()
    assert all(
        span.parent_span_id
        for span in statements_anywhere
        if span.kind == Span.SPAN_KIND_CLIENT
    )


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "cart"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_ask_for_it(monkeypatch, env, on):
    for name in (
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert requested() is on


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "jaeger"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ],
)
def test_a_server_asked_for_traces_it_cannot_send_refuses_to_start(env):
    result = subprocess.run(
        [sys.executable, "-c", "import cartproject.wsgi"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "test-only", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "only" in result.stderr.splitlines()[-1], result.stderr
