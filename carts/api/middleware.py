from collections.abc import Callable

from corsheaders.middleware import CorsMiddleware
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers

from ..database.guard import database_call
from .errors import json_error


class RequestSizeLimitMiddleware:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413, refused unread.

    Django checks that limit only when `request.body` is read; DRF's parsers
    read the stream itself, so without this any JSON body would be parsed.
    A body without Content-Length (chunked) is never read at all: Django reads
    at most CONTENT_LENGTH bytes of the input, so it counts as empty.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit is not None and length > limit:
            return json_error(
                413,
                "request_too_large",
                f"The request body is larger than {limit} bytes.",
            )
        return self.get_response(request)


class DatabaseCallMiddleware:
    """Each request is one database call (carts.database.guard): it takes a slot of
    the bulkhead at its first use of the database, or is refused with 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with database_call():
            return self.get_response(request)


class CorsMiddlewareForBrowsers(CorsMiddleware):
    """django-cors-headers' middleware, skipped but for `Vary: Origin` by a
    request without an `Origin` header: not a browser's page on another
    origin, nor a preflight (browsers send one with both), so no CORS header
    is due. The library's own path for it cost about a twentieth of an add's
    Python work (it parses every request header to find none, and reads an
    unset setting through an AttributeError, twice; bench/README.md)."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if "HTTP_ORIGIN" in request.META:
            return super().__call__(request)  # type: ignore[return-value]
        response = self.get_response(request)
        assert isinstance(response, HttpResponseBase)  # WSGI: never awaitable
        if response.has_header("Vary"):
            patch_vary_headers(response, ("origin",))
        else:  # what patch_vary_headers would set, without parsing none
            response.headers["Vary"] = "origin"
        return response
