"""The service with GET /cart/<user_id> answered by less and less of its own
work (`make bench BENCH_ARGS=--layers`), to show what each layer costs under
the same load, gunicorn settings and middleware as the real service:

- `app("django")`: a plain Django view with a constant answer, through the
  service's WSGI application and middleware (the lean path a token request
  takes): no DRF, no token check, no database;
- `app("query")`: a plain Django view that reads the cart as the service does
  (the same selector, the same rendering), without DRF or the token check:
  what the service would cost with DRF's part replaced by nothing at all;
- `app("drf")`: a view of the service's own base class with its token check,
  permissions and throttles, answering a constant cart through DRF's
  renderer: all of the service's request path but the cart's query.

Each replaces the route before Django first reads the URLconf; nothing of
this is imported by the service itself.
"""

from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from django.urls import path

# A cart as the bench seeds them: three lines.
CART = {
    "user_id": "user00001",
    "items": [
        {
            "product_id": product_id,
            "name": name,
            "quantity": quantity,
            "unit_price": price,
            "line_total": f"{Decimal(price) * quantity:f}",
        }
        for product_id, name, quantity, price in (
            ("OLJCESPC7Z", "Sunglasses", 1, "19.99"),
            ("66VCHSJNUP", "Tank Top", 2, "18.99"),
            ("1YMWWN1N4O", "Watch", 3, "109.99"),
        )
    ],
    "total_quantity": 6,
    "subtotal": "387.94",
    "currency": "USD",
}


def app(layer: str):
    """gunicorn's application factory: `layers:app("django")`."""
    # Django's set-up first: DRF's modules read the settings when imported.
    from cartproject.wsgi import application

    _route(layer)
    return application


def _route(layer: str) -> None:
    import json

    from rest_framework.request import Request
    from rest_framework.response import Response

    import carts.api.urls
    from carts.api.base import CartAPIView
    from carts.api.views import CartView

    if layer == "django":
        body = json.dumps(CART, separators=(",", ":")).encode()

        def constant_cart(request: HttpRequest, user_id: str) -> HttpResponse:
            return HttpResponse(body, content_type="application/json")

        view = constant_cart
    elif layer == "query":
        from carts.api.serializers import CartOutput
        from carts.cart import reads

        def cart_read(request: HttpRequest, user_id: str) -> HttpResponse:
            cart = reads.cart_get(user_id=user_id)
            body = json.dumps(CartOutput.render(cart), separators=(",", ":"))
            return HttpResponse(body.encode(), content_type="application/json")

        view = cart_read
    elif layer == "drf":

        class ConstantCartView(CartAPIView):
            permission_classes = CartView.permission_classes

            def get(self, request: Request, user_id: str) -> Response:
                return Response(CART)

        view = ConstantCartView.as_view()
    else:
        raise ValueError(f"no layer {layer!r}: django, query or drf")
    carts.api.urls.urlpatterns.insert(0, path("cart/<id:user_id>", view))
