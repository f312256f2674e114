from django.urls import path

from . import views


def optional_slash(route: str, view, name: str) -> list:
    """The route with and without a trailing slash: same view, no redirect."""
    return [path(route, view, name=name), path(f"{route}/", view)]


def schema_without_slash_variants(endpoints):
    """drf-spectacular hook: document each route once, without the slash."""
    return [endpoint for endpoint in endpoints if not endpoint[0].endswith("/")]


urlpatterns = [
    *optional_slash("cart/<str:user_id>", views.CartView.as_view(), "cart"),
    *optional_slash(
        "cart/<str:user_id>/items/<str:product_id>",
        views.CartItemView.as_view(),
        "cart-item",
    ),
    *optional_slash("products", views.ProductListView.as_view(), "product-list"),
    *optional_slash(
        "products/<str:product_id>", views.ProductDetailView.as_view(), "product-detail"
    ),
    *optional_slash("healthz", views.HealthView.as_view(), "healthz"),
    *optional_slash("readyz", views.ReadyView.as_view(), "readyz"),
]
