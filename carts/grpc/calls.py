"""What every unary call goes through, as Django's request handling does for
HTTP: database connections checked before and after (close_old_connections,
as on request_started/finished), the call as one unit of work on the database
(carts.database.guard: a bulkhead slot, bounded waits), errors answered as status
codes (carts.grpc.status), and one access log line.

The access log (logger `carts.grpc.access`), like gunicorn's:
`ipv4:127.0.0.1:40312 "/hipstershop.CartService/AddItem" OK 2.4ms`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from django.db import close_old_connections

from ..database.guard import database_call
from .status import abort, status_for

access_log = logging.getLogger("carts.grpc.access")


def call_status(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The status the call was ended with, if any (grpcio has had
    `ServicerContext.code()` since 1.38; typeshed's stubs lack it)."""
    code: grpc.StatusCode | None = context.code()  # type: ignore[attr-defined]
    return code


class CallInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # unknown methods; the health Watch and reflection streams
        return grpc.unary_unary_rpc_method_handler(
            UnaryCall(handler_call_details.method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class UnaryCall:
    """One method's behaviour, wrapped."""

    def __init__(
        self, method: str, behaviour: Callable[[Any, grpc.ServicerContext], Any]
    ) -> None:
        self.method = method
        self.behaviour = behaviour

    def __call__(self, request: Any, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        close_old_connections()
        try:
            # Each wait for the server ends by the client's deadline too.
            with database_call(timeout=context.time_remaining()):
                return self.behaviour(request, context)
        except Exception as error:
            if call_status(context) is not None:
                raise  # the behaviour ended the call itself (context.abort)
            abort(context, status_for(error, self.method))
        finally:
            close_old_connections()
            access_log.info(
                '%s "%s" %s %.1fms',
                context.peer(),
                self.method,
                (call_status(context) or grpc.StatusCode.OK).name,
                (time.perf_counter() - started) * 1000,
            )
