"""DRF's APIView without the per-request work that never changes an answer.

DRF builds every collaborator of a view anew for each request: authenticators,
permissions, parsers, the content negotiator, and the Allow header from the
view's methods. These keep nothing between calls, so one set per view class
serves every request and thread. Renderers stay per request (the browsable
API's keeps the request's context on itself), and so do throttles (they keep
the request's history and wait), though only those whose scope has a rate.
tests/test_lean_path.py proves the answers are those of DRF's APIView.
"""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from .throttling import rated

T = TypeVar("T")

# (view class, what) -> the shared value. Filled on first use; a race only
# builds a value twice.
_shared: dict[tuple[type, str], Any] = {}


def _per_class(view: APIView, what: str, build: Callable[[], T]) -> T:
    key = (type(view), what)
    if key not in _shared:
        _shared[key] = build()
    value: T = _shared[key]
    return value


class CartAPIView(APIView):
    def get_authenticators(self) -> list[Any]:
        return _per_class(self, "authenticators", super().get_authenticators)

    def get_permissions(self) -> Sequence[Any]:
        return _per_class(self, "permissions", super().get_permissions)

    def get_parsers(self) -> list[Any]:
        return _per_class(self, "parsers", super().get_parsers)

    def get_throttles(self) -> list[BaseThrottle]:
        return rated(self.throttle_classes)

    def get_content_negotiator(self) -> Any:
        return _per_class(self, "negotiator", super().get_content_negotiator)

    @property
    def default_response_headers(self) -> dict[str, str]:
        # From the first request's view: the methods it allows include HEAD,
        # which Django's View.setup adds to each instance. A copy: DRF pops
        # Vary from it while finishing the response.
        headers: dict[str, str] = _per_class(
            self, "headers", lambda: super(CartAPIView, self).default_response_headers
        )
        return dict(headers)
