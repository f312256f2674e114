"""Errors with stable codes; drf-standardized-errors renders every one of them."""

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.utils.log import log_response
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import status
from rest_framework.exceptions import APIException


class CartError(APIException):
    """An error of the cart's domain; `default_code` is part of the API."""

    message: str  # formatted with the keyword arguments given when raised

    def __init__(self, **values):
        super().__init__(self.message.format(**values))


class ProductNotFound(CartError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "product_not_found"
    message = "Product '{product_id}' does not exist."


class UserNotFound(CartError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "user_not_found"
    message = "User '{user_id}' does not exist."


class LineNotFound(CartError):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "line_not_found"
    message = "Product '{product_id}' is not in the cart."


class QuantityLimitExceeded(CartError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "quantity_limit_exceeded"
    message = "A cart line may hold at most {limit} units."


class CartLineLimitExceeded(CartError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "cart_line_limit_exceeded"
    message = "A cart may hold at most {limit} lines."


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "The database is unavailable; try again shortly."


class CartExceptionHandler(ExceptionHandler):
    """Adds one rule to the standard handler: a database outage is a 503."""

    def convert_known_exceptions(self, exc: Exception) -> Exception:
        # OperationalError/InterfaceError mean the connection is gone or refused;
        # an IntegrityError or a programming error stays a 500, as it is a bug.
        if isinstance(exc, (OperationalError, InterfaceError)):
            return ServiceUnavailable()
        return super().convert_known_exceptions(exc)

    def report_exception(self, exc: APIException, response) -> None:
        # An outage is expected and says nothing about the code: one line per
        # request, not a traceback each.
        if isinstance(exc, ServiceUnavailable):
            request = getattr(self.context.get("request"), "_request", None)
            log_response(
                "Database unavailable: %s: %s",
                str(self.exc).strip().splitlines()[0],
                getattr(request, "path", ""),
                response=response,
                request=request,
            )
            return
        super().report_exception(exc, response)


def json_error(status_code: int, code: str, detail: str) -> JsonResponse:
    """The standard error body, for answers given outside DRF's views."""
    return JsonResponse(
        {
            "type": "server_error" if status_code >= 500 else "client_error",
            "errors": [{"code": code, "detail": detail, "attr": None}],
        },
        status=status_code,
    )
