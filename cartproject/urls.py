from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from carts.api.urls import optional_slash

urlpatterns = [
    path("admin/", admin.site.urls),
    *optional_slash("api/schema", SpectacularAPIView.as_view(), "schema"),
    *optional_slash(
        "api/docs", SpectacularSwaggerView.as_view(url_name="schema"), "docs"
    ),
    path("", include("carts.api.urls")),
]

handler404 = "carts.api.views.json_not_found"
handler500 = "carts.api.views.json_server_error"
