"""HTTP <-> service translation: validate, call one function, render."""

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..domain.errors import (
    CartLineLimitExceeded,
    LineNotFound,
    ProductNotFound,
    QuantityLimitExceeded,
    UserNotFound,
)
from .errors import ServiceUnavailable, json_error
from .openapi import PRODUCT_ID, UNMATCHED_PATH, USER_ID, error_responses
from .permissions import IsCartOwnerOrStaff
from .serializers import (
    CartItemAddInput,
    CartItemSetInput,
    CartLineOutput,
    CartOutput,
    ProductOutput,
)

# The errors beyond DRF's that each kind of operation documents.
CART_ERRORS = (UserNotFound, UNMATCHED_PATH, ServiceUnavailable)
LINE_WRITE_ERRORS = (
    *CART_ERRORS,
    ProductNotFound,
    QuantityLimitExceeded,
    CartLineLimitExceeded,
)


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class CartView(APIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @extend_schema(
        operation_id="cart_add",
        parameters=[USER_ID],
        request=CartItemAddInput,
        responses={
            200: CartLineOutput,
            201: CartLineOutput,
            **error_responses("CartAdd", *LINE_WRITE_ERRORS),
        },
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

    @extend_schema(
        operation_id="cart_get",
        parameters=[USER_ID],
        responses={
            200: CartOutput,
            **error_responses("CartGet", *CART_ERRORS),
        },
    )
    def get(self, request, user_id: str) -> Response:
        return Response(CartOutput.render(selectors.cart_get(username=user_id)))

    @extend_schema(
        operation_id="cart_clear",
        parameters=[USER_ID],
        responses={
            204: None,
            **error_responses("CartClear", *CART_ERRORS),
        },
    )
    def delete(self, request, user_id: str) -> Response:
        services.cart_clear(
            username=user_id, user_known=request.user.username == user_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CartItemView(APIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @extend_schema(
        operation_id="cart_item_set",
        parameters=[USER_ID, PRODUCT_ID],
        request=CartItemSetInput,
        responses={
            200: CartLineOutput,
            201: CartLineOutput,
            204: None,
            **error_responses("CartItemSet", *LINE_WRITE_ERRORS),
        },
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

    @extend_schema(
        operation_id="cart_item_remove",
        parameters=[USER_ID, PRODUCT_ID],
        responses={
            204: None,
            **error_responses("CartItemRemove", *CART_ERRORS, LineNotFound),
        },
    )
    def delete(self, request, user_id: str, product_id: str) -> Response:
        services.cart_item_remove(username=user_id, product_id=product_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProductListView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="product_list",
        responses={
            200: ProductOutput(many=True),
            **error_responses("ProductList", ServiceUnavailable),
        },
    )
    def get(self, request) -> Response:
        return Response(ProductOutput(selectors.product_list(), many=True).data)


class ProductDetailView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="product_get",
        parameters=[PRODUCT_ID],
        responses={
            200: ProductOutput,
            **error_responses(
                "ProductGet", ProductNotFound, UNMATCHED_PATH, ServiceUnavailable
            ),
        },
    )
    def get(self, request, product_id: str) -> Response:
        product = selectors.product_get(product_id=product_id)
        if product is None:
            raise ProductNotFound(product_id=product_id)
        return Response(ProductOutput(product).data)


class HealthView(APIView):
    """Liveness: the process serves requests. Touches no database."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # probes, sent by the orchestrator

    @extend_schema(operation_id="healthz", responses={200: dict})
    def get(self, request) -> Response:
        return Response({"status": "ok"})


class ReadyView(APIView):
    """Readiness: the database answers and all migrations are applied."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # probes, sent by the orchestrator

    @extend_schema(
        operation_id="readyz",
        responses={200: dict, **error_responses("Readyz", ServiceUnavailable)},
    )
    def get(self, request) -> Response:
        if not selectors.database_ready():
            raise ServiceUnavailable()
        return Response({"status": "ok"})


def json_not_found(request, exception=None) -> JsonResponse:
    """Django's 404 for paths outside the API, in the API's error shape."""
    return json_error(404, "not_found", "Not found.")


def json_server_error(request) -> JsonResponse:
    return json_error(500, "error", "Server Error (500)")
