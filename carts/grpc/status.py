"""The gRPC side of errors: each domain error kind and a database outage as a
status code, with the error's message as details and its stable code in the
trailing metadata (`error-code`)."""

import logging
from typing import NamedTuple

import grpc
from django.db import InterfaceError, OperationalError

from ..domain.errors import CartError, ErrorKind

logger = logging.getLogger(__name__)

GRPC_STATUS = {
    ErrorKind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.LIMIT: grpc.StatusCode.FAILED_PRECONDITION,
    # Not ABORTED: that tells a client to retry, and a retry meets the same
    # state (a guest cart already merged into another cart).
    ErrorKind.CONFLICT: grpc.StatusCode.FAILED_PRECONDITION,
    # The cart's version is not the one named: neither kind is raised by the
    # three calls today, but every kind has its status.
    ErrorKind.PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.REUSED: grpc.StatusCode.ALREADY_EXISTS,
}

ERROR_CODE_KEY = "error-code"


class Status(NamedTuple):
    code: grpc.StatusCode
    error_code: str
    details: str


DATABASE_UNAVAILABLE = Status(
    grpc.StatusCode.UNAVAILABLE,
    "service_unavailable",
    "The database is unavailable; try again shortly.",
)
INTERNAL = Status(grpc.StatusCode.INTERNAL, "error", "Internal error.")


def status_for(error: Exception, method: str) -> Status:
    """The status that answers `error`, raised by a call of `method`."""
    if isinstance(error, CartError):
        return Status(GRPC_STATUS[error.kind], error.code, str(error))
    # OperationalError/InterfaceError mean the connection is gone or refused;
    # anything else is a bug: its traceback is logged.
    if isinstance(error, (OperationalError, InterfaceError)):
        first_line = (str(error).strip().splitlines() or [""])[0]
        logger.warning("Database unavailable: %s: %s", first_line, method)
        return DATABASE_UNAVAILABLE
    logger.error("Internal error in %s", method, exc_info=error)
    return INTERNAL


def abort(context: grpc.ServicerContext, status: Status) -> None:
    """End the call with `status` (raises, as grpc's abort does)."""
    context.set_trailing_metadata(((ERROR_CODE_KEY, status.error_code),))
    context.abort(status.code, status.details)
