from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from carts.api.observability import metrics_view
from carts.api.urls import optional_slash

urlpatterns = [
    # First: Django tries the patterns in order, and nearly every request is
    # the API's. None of its paths is another's below.
    path("", include("carts.api.urls")),
    # A newcomer's first request: the API's documentation.
    path("", RedirectView.as_view(pattern_name="docs"), name="index"),
    path("admin/", admin.site.urls),
    # The reference storefront, a static page (docs/storefront.md); its query
    # (?api=...) goes along.
    *optional_slash(
        "storefront",
        RedirectView.as_view(url=static("storefront/index.html"), query_string=True),
        "storefront",
    ),
    *optional_slash("api/schema", SpectacularAPIView.as_view(), "schema"),
    *optional_slash(
        "api/docs", SpectacularSwaggerView.as_view(url_name="schema"), "docs"
    ),
    # Prometheus, for the scraper on the internal network (nginx refuses it).
    *optional_slash("metrics", metrics_view, "metrics"),
]

handler404 = "carts.api.errors.json_not_found"
handler500 = "carts.api.errors.json_server_error"
