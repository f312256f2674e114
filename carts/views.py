"""HTTP <-> service translation: validate, call one function, render."""

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .errors import ProductNotFound, ServiceUnavailable
from .permissions import IsCartOwnerOrStaff
from .serializers import (
    CartItemAddInput,
    CartItemSetInput,
    CartLineOutput,
    CartOutput,
    ProductOutput,
)


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class CartView(APIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @extend_schema(
        operation_id="cart_add",
        request=CartItemAddInput,
        responses={200: CartLineOutput, 201: CartLineOutput},
        summary="Add a product; adding it again merges the quantities.",
    )
    def post(self, request, user_id: str) -> Response:
        line, created = services.cart_item_add(
            username=user_id, **validated(CartItemAddInput, request.data)
        )
        return Response(
            CartLineOutput.render(line),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(operation_id="cart_get", responses={200: CartOutput})
    def get(self, request, user_id: str) -> Response:
        return Response(CartOutput.render(selectors.cart_get(username=user_id)))

    @extend_schema(operation_id="cart_clear", responses={204: None})
    def delete(self, request, user_id: str) -> Response:
        services.cart_clear(
            username=user_id, user_known=request.user.username == user_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CartItemView(APIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @extend_schema(
        operation_id="cart_item_set",
        request=CartItemSetInput,
        responses={200: CartLineOutput, 201: CartLineOutput, 204: None},
        summary="Set a line's quantity; 0 removes the line.",
    )
    def put(self, request, user_id: str, product_id: str) -> Response:
        line, created = services.cart_item_set_or_remove(
            username=user_id,
            product_id=product_id,
            **validated(CartItemSetInput, request.data),
        )
        if line is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            CartLineOutput.render(line),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(operation_id="cart_item_remove", responses={204: None})
    def delete(self, request, user_id: str, product_id: str) -> Response:
        services.cart_item_remove(username=user_id, product_id=product_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProductListView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="product_list", responses={200: ProductOutput(many=True)}
    )
    def get(self, request) -> Response:
        return Response(ProductOutput(selectors.product_list(), many=True).data)


class ProductDetailView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="product_get", responses={200: ProductOutput})
    def get(self, request, product_id: str) -> Response:
        product = selectors.product_get(product_id=product_id)
        if product is None:
            raise ProductNotFound(product_id)
        return Response(ProductOutput(product).data)


class HealthView(APIView):
    """Liveness: the process serves requests. Touches no database."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="healthz", responses={200: dict})
    def get(self, request) -> Response:
        return Response({"status": "ok"})


class ReadyView(APIView):
    """Readiness: the database answers and all migrations are applied."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="readyz", responses={200: dict})
    def get(self, request) -> Response:
        if not selectors.database_ready():
            raise ServiceUnavailable()
        return Response({"status": "ok"})


def json_not_found(request, exception=None) -> JsonResponse:
    """Django's 404 for paths outside the API, in the API's error shape."""
    return JsonResponse(
        {
            "type": "client_error",
            "errors": [{"code": "not_found", "detail": "Not found.", "attr": None}],
        },
        status=404,
    )


def json_server_error(request) -> JsonResponse:
    return JsonResponse(
        {
            "type": "server_error",
            "errors": [{"code": "error", "detail": "Server Error (500)", "attr": None}],
        },
        status=500,
    )
