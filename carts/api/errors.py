"""The HTTP side of errors: domain errors and outages as DRF exceptions, which
drf-standardized-errors renders in the API's one error shape."""

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.utils.log import log_response
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from ..domain.errors import CartError, ErrorKind, PreconditionFailed
from .conditional import cart_etag
from .observability import DATABASE_ERRORS

# Each kind of domain error as an HTTP status; the code is the domain's.
HTTP_STATUS = {
    ErrorKind.INVALID: status.HTTP_400_BAD_REQUEST,
    ErrorKind.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    ErrorKind.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorKind.LIMIT: status.HTTP_409_CONFLICT,
    ErrorKind.CONFLICT: status.HTTP_409_CONFLICT,
    ErrorKind.PRECONDITION: status.HTTP_412_PRECONDITION_FAILED,
    ErrorKind.REUSED: status.HTTP_422_UNPROCESSABLE_ENTITY,
}


def http_status(error: type[CartError]) -> int:
    return HTTP_STATUS[error.kind]


def as_api_exception(error: CartError) -> APIException:
    # An invalid request is a validation error (of the request as a whole).
    if error.kind is ErrorKind.INVALID:
        return ValidationError(str(error), code=error.code)
    exception = APIException(str(error), code=error.code)
    exception.status_code = http_status(type(error))
    return exception


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "The database is unavailable; try again shortly."


class CartExceptionHandler(ExceptionHandler):
    """Adds three rules to the standard handler: a domain error is answered
    with its kind's status and its code, a database outage is a 503, and a
    412 carries the cart's current ETag."""

    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, CartError):
            return as_api_exception(exc)
        # OperationalError/InterfaceError mean the connection is gone or refused;
        # an IntegrityError or a programming error stays a 500, as it is a bug.
        if isinstance(exc, (OperationalError, InterfaceError)):
            DATABASE_ERRORS.labels(type(exc).__name__).inc()
            return ServiceUnavailable()
        return super().convert_known_exceptions(exc)

    def get_headers(self, exc: APIException) -> dict[str, str]:
        headers = super().get_headers(exc)
        if isinstance(self.exc, PreconditionFailed):
            user_id, version = self.exc.values["user_id"], self.exc.values["version"]
            assert isinstance(user_id, str) and isinstance(version, int)
            headers["ETag"] = cart_etag(user_id, version)
        return headers

    def report_exception(self, exc: APIException, response: Response) -> None:
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


def json_not_found(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    """Django's 404 for paths outside the API, in the API's error shape."""
    return json_error(404, "not_found", "Not found.")


def json_server_error(request: HttpRequest) -> JsonResponse:
    return json_error(500, "error", "Server Error (500)")
