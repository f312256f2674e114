from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, path, register_converter

from . import health, views


class IdConverter:
    """Any text but a slash or a NUL: PostgreSQL cannot take NUL in a string,
    so such a path is no route (404) instead of a database error."""

    regex = r"[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IdConverter, "id")

# (path, path regex, method, view callback): what drf-spectacular hooks get.
Endpoint = tuple[str, str, str, Callable[..., Any]]


def optional_slash(route: str, view: Callable[..., Any], name: str) -> list[URLPattern]:
    """The route with and without a trailing slash: same view, no redirect."""
    return [path(route, view, name=name), path(f"{route}/", view)]


def schema_without_slash_variants(endpoints: list[Endpoint]) -> list[Endpoint]:
    """drf-spectacular hook: document each route once, without the slash."""
    return [endpoint for endpoint in endpoints if not endpoint[0].endswith("/")]


urlpatterns = [
    *optional_slash("cart/<id:user_id>", views.CartView.as_view(), "cart"),
    *optional_slash(
        "cart/<id:user_id>/merge", views.CartMergeView.as_view(), "cart-merge"
    ),
    *optional_slash(
        "cart/<id:user_id>/reprice", views.CartRepriceView.as_view(), "cart-reprice"
    ),
    *optional_slash(
        "cart/<id:user_id>/checkout", views.CheckoutView.as_view(), "checkout"
    ),
    *optional_slash(
        "cart/<id:user_id>/checkout/<id:checkout_id>/complete",
        views.CheckoutCompleteView.as_view(),
        "checkout-complete",
    ),
    *optional_slash(
        "cart/<id:user_id>/checkout/<id:checkout_id>/cancel",
        views.CheckoutCancelView.as_view(),
        "checkout-cancel",
    ),
    *optional_slash(
        "checkouts/<id:checkout_id>",
        views.CheckoutSnapshotView.as_view(),
        "checkout-detail",
    ),
    *optional_slash("guests", views.GuestView.as_view(), "guests"),
    *optional_slash("events", views.EventFeedView.as_view(), "events"),
    *optional_slash(
        "cart/<id:user_id>/items/<id:product_id>",
        views.CartItemView.as_view(),
        "cart-item",
    ),
    *optional_slash("products", views.ProductListView.as_view(), "product-list"),
    *optional_slash(
        "products/<id:product_id>", views.ProductDetailView.as_view(), "product-detail"
    ),
    *optional_slash("healthz", health.HealthView.as_view(), "healthz"),
    *optional_slash("readyz", health.ReadyView.as_view(), "readyz"),
]

# Where the API's paths begin ("/cart/", "/products", ...): cartproject.lean
# sends token requests to these through its lean handler.
API_PATH_PREFIXES = tuple(
    sorted({"/" + str(pattern.pattern).split("<")[0] for pattern in urlpatterns})
)
