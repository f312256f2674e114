"""HTTP <-> service translation: validate, call one function, render."""

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import merge, owners, selectors, services
from ..domain.errors import (
    CartLineLimitExceeded,
    GuestAlreadyMerged,
    GuestNotFound,
    InvalidUserId,
    LineNotFound,
    MergeIntoItself,
    ProductNotFound,
    QuantityLimitExceeded,
    UserNotFound,
)
from ..domain.rules import MergeMode
from ..owners import NewOwner, new_owner_for
from .errors import ServiceUnavailable, json_error
from .openapi import ADD_QUERY, PRODUCT_ID, UNMATCHED_PATH, USER_ID, error_responses
from .permissions import IsCartOwnerOrStaff
from .serializers import (
    CartItemAddInput,
    CartItemAddQuery,
    CartItemSetInput,
    CartLineOutput,
    CartMergeInput,
    CartMergeOutput,
    CartOutput,
    GuestOutput,
    ProductOutput,
)
from .throttling import AnonThrottle, GuestThrottle

# The errors beyond DRF's that each kind of operation documents.
CART_ERRORS = (UserNotFound, UNMATCHED_PATH, ServiceUnavailable)
LINE_WRITE_ERRORS = (
    *CART_ERRORS,
    InvalidUserId,
    ProductNotFound,
    QuantityLimitExceeded,
    CartLineLimitExceeded,
    GuestAlreadyMerged,
)
MERGE_ERRORS = (
    *CART_ERRORS,
    InvalidUserId,
    GuestNotFound,
    GuestAlreadyMerged,
    MergeIntoItself,
)


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def add_input(request) -> dict:
    """The add's fields from the body, or from the query string for seed
    clients that send no body; both at once is a 400."""
    if not request.query_params:
        return validated(CartItemAddInput, request.data)
    if int(request.META.get("CONTENT_LENGTH") or 0):
        raise ValidationError(
            "Send the fields in the body or in the query string, not both.",
            code="body_and_query",
        )
    return validated(CartItemAddQuery, request.query_params.dict())


def new_owner(request) -> NewOwner | None:
    return new_owner_for(staff=request.user.is_staff)


def line_response(write) -> Response:
    return Response(
        CartLineOutput.render(write.line),
        status=status.HTTP_201_CREATED if write.created else status.HTTP_200_OK,
    )


class CartView(APIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @extend_schema(
        operation_id="cart_add",
        parameters=[USER_ID, *ADD_QUERY],
        request=CartItemAddInput,
        responses={
            200: CartLineOutput,
            201: CartLineOutput,
            **error_responses(
                "CartAdd", *LINE_WRITE_ERRORS, validation_codes=("body_and_query",)
            ),
        },
        summary="Add a product; adding it again merges the quantities.",
    )
    def post(self, request, user_id: str) -> Response:
        write = services.cart_item_add(
            username=user_id, new_owner=new_owner(request), **add_input(request)
        )
        return line_response(write)

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
        write = services.cart_item_set_or_remove(
            username=user_id,
            product_id=product_id,
            new_owner=new_owner(request),
            **validated(CartItemSetInput, request.data),
        )
        if write is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return line_response(write)

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


class CartMergeView(APIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @extend_schema(
        operation_id="cart_merge",
        parameters=[USER_ID],
        request=CartMergeInput,
        responses={
            200: CartMergeOutput,
            **error_responses(
                "CartMerge", *MERGE_ERRORS, validation_codes=("merge_source_required",)
            ),
        },
        summary="Merge a guest's cart into this cart (at login).",
    )
    def post(self, request, user_id: str) -> Response:
        fields = validated(CartMergeInput, request.data)
        if "guest_token" in fields:
            guest = merge.guest_by_token(fields["guest_token"])
        elif request.user.is_staff:
            guest = merge.guest_by_id(fields["from_user_id"])
        else:
            raise PermissionDenied("Only staff may merge a cart by its user id.")
        result = merge.cart_merge(
            guest=guest,
            username=user_id,
            mode=MergeMode(fields["mode"]),
            new_owner=new_owner(request),
        )
        plan = result.plan
        return Response(
            CartMergeOutput.render(
                {
                    "cart": selectors.cart_get(username=user_id),
                    "merged": plan.merged,
                    "clamped": plan.clamped,
                    "dropped": plan.dropped,
                    "already_merged": result.already_merged,
                }
            )
        )


class GuestView(APIView):
    """A guest: a user with an owner token, for an anonymous session."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle, GuestThrottle]

    @extend_schema(
        operation_id="guest_create",
        request=None,
        responses={
            201: GuestOutput,
            **error_responses("GuestCreate", ServiceUnavailable),
        },
    )
    def post(self, request) -> Response:
        user_id, token = owners.guest_create()
        return Response(
            GuestOutput.render({"user_id": user_id, "token": token}),
            status=status.HTTP_201_CREATED,
        )


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
