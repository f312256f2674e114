"""The gRPC server: the cart service, health (grpc.health.v1) and reflection
on one port, plaintext HTTP/2, a thread pool; graceful stop on SIGTERM."""

import logging
import signal
import threading
from concurrent import futures

import grpc
from django.conf import settings
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import cart_pb2_grpc
from .calls import CallInterceptor
from .health import DatabaseHealth
from .servicer import SERVICE_NAME, CartServicer

logger = logging.getLogger(__name__)


def serve(*, bind: str, port: int, threads: int, grace: float) -> None:
    """Serve until SIGTERM or SIGINT; then refuse new calls, let the calls in
    flight finish (for up to `grace` seconds) and return."""
    server = grpc.server(
        futures.ThreadPoolExecutor(threads, thread_name_prefix="grpc-call"),
        interceptors=[CallInterceptor()],
        # A port in use is an error, as for gunicorn: with SO_REUSEPORT (gRPC's
        # default on Linux) a second server would silently share the port.
        options=[("grpc.so_reuseport", 0)],
    )
    cart_pb2_grpc.add_CartServiceServicer_to_server(  # type: ignore[no-untyped-call]
        CartServicer(), server
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    address = f"{bind}:{port}"
    try:
        server.add_insecure_port(address)
    except RuntimeError:
        raise OSError(
            f"cannot listen on {address}: the port is in use, or the address "
            "is not one of this host's"
        ) from None

    database_health = DatabaseHealth(health_servicer, ["", SERVICE_NAME])
    database_health.start()
    stop_requested = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_requested.set())
    server.start()
    logger.info(
        "gRPC %s listening on %s (%d threads, %d using the database at once);"
        " database %s",
        SERVICE_NAME,
        address,
        threads,
        settings.DATABASE_BULKHEAD,
        "answers" if database_health.serving else "does not answer",
    )

    stop_requested.wait()
    logger.info("Stopping: no new calls; waiting up to %g s for calls in flight", grace)
    health_servicer.enter_graceful_shutdown()
    database_health.stop()
    server.stop(grace).wait()
    logger.info("Stopped")
