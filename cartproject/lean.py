"""Token-authenticated API requests skip the middleware only browsers need.

Sessions, CSRF, the session's user and messages serve the admin, the API docs
and the browsable API's session authentication. A request to an API path that
carries no cookie and a `Token` credential can use none of them: its token
decides who it is before DRF would consult the session, and an APIView is
exempt from CSRF. Such requests go through a second handler, built from the
same MIDDLEWARE minus those four; every other request through Django's full
stack. tests/test_lean_path.py proves the answers are the same, header for
header, byte for byte.
"""

from functools import cache

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

# Django's handler reads its middleware from settings.MIDDLEWARE alone;
# override_settings is Django's public way to hand it another list for the
# length of the load (the alternative: a copy of Django's loading loop).
from django.test.utils import override_settings

BROWSER_ONLY_MIDDLEWARE = frozenset(
    {
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    }
)


@cache
def api_path_prefixes() -> tuple[str, ...]:
    """The API's own paths (carts.api.urls); never the admin's or the docs'
    pages. Read once the app registry is ready."""
    from carts.api.urls import API_PATH_PREFIXES

    return API_PATH_PREFIXES


def takes_lean_path(environ: dict) -> bool:
    return (
        "HTTP_COOKIE" not in environ
        and environ.get("HTTP_AUTHORIZATION", "")[:6].lower() == "token "
        and environ.get("PATH_INFO", "").startswith(api_path_prefixes())
    )


class LeanAPIHandler(WSGIHandler):
    """Django's handler with MIDDLEWARE less BROWSER_ONLY_MIDDLEWARE."""

    def load_middleware(self, is_async: bool = False) -> None:
        lean = [m for m in settings.MIDDLEWARE if m not in BROWSER_ONLY_MIDDLEWARE]
        # load_middleware reads settings.MIDDLEWARE; nothing else changes.
        with override_settings(MIDDLEWARE=lean):
            super().load_middleware(is_async)


class RoutingHandler:
    """The WSGI application: the lean handler where it gives the same answer."""

    def __init__(self, full: WSGIHandler) -> None:
        self.full = full
        self.lean = LeanAPIHandler()

    def __call__(self, environ, start_response):
        handler = self.lean if takes_lean_path(environ) else self.full
        return handler(environ, start_response)
