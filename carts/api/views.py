"""HTTP <-> service translation: validate, call one function, render."""

from typing import Any

from django.conf import settings
from django.http import (
    HttpRequest,
    HttpResponseBase,
    HttpResponseNotModified,
    JsonResponse,
)
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from .. import merge, owners, selectors, services
from ..db_guard import database_call
from ..domain.errors import (
    CartLineLimitExceeded,
    GuestAlreadyMerged,
    GuestNotFound,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidUserId,
    LineNotFound,
    MergeIntoItself,
    PreconditionFailed,
    ProductNotFound,
    QuantityLimitExceeded,
    UserNotFound,
)
from ..domain.rules import MergeMode
from ..owners import NewOwner, new_owner_for
from ..services import LineWrite
from .base import CartAPIView
from .conditional import AnyVersion, cart_etag, if_match, if_none_match
from .errors import ServiceUnavailable, json_error
from .idempotency import respond_once
from .openapi import (
    ADD_DESCRIPTION,
    IDEMPOTENCY_KEY,
    IF_MATCH,
    IF_NONE_MATCH,
    PRODUCT_ID,
    UNMATCHED_PATH,
    USER_ID,
    USER_ID_FOR_WRITE,
    error_responses,
    etag_header,
    replayed_header,
)
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
# Writes under /cart/<user_id> take If-Match; some take Idempotency-Key.
CART_WRITE_ERRORS = (*CART_ERRORS, PreconditionFailed)
IDEMPOTENCY_ERRORS = (InvalidIdempotencyKey, IdempotencyKeyReused, IdempotencyKeyInUse)
LINE_WRITE_ERRORS = (
    *CART_WRITE_ERRORS,
    InvalidUserId,
    ProductNotFound,
    QuantityLimitExceeded,
    CartLineLimitExceeded,
    GuestAlreadyMerged,
)
MERGE_ERRORS = (
    *CART_WRITE_ERRORS,
    *IDEMPOTENCY_ERRORS,
    InvalidUserId,
    GuestNotFound,
    GuestAlreadyMerged,
    MergeIntoItself,
)


def validated(serializer_class: type[Serializer[Any]], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    fields: dict[str, Any] = serializer.validated_data
    return fields


def add_input(request: Request) -> dict[str, Any]:
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


def new_owner(request: Request) -> NewOwner | None:
    return new_owner_for(staff=request.user.is_staff)


def line_response(user_id: str, write: LineWrite) -> Response:
    return Response(
        CartLineOutput.render(write.line),
        status=status.HTTP_201_CREATED if write.created else status.HTTP_200_OK,
        headers={"ETag": cart_etag(user_id, write.version)},
    )


def no_content(user_id: str, version: int) -> Response:
    return Response(
        status=status.HTTP_204_NO_CONTENT,
        headers={"ETag": cart_etag(user_id, version)},
    )


class CartView(CartAPIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @extend_schema(
        operation_id="cart_add",
        description=ADD_DESCRIPTION,
        parameters=[
            USER_ID_FOR_WRITE,
            IF_MATCH,
            IDEMPOTENCY_KEY,
            etag_header(200, 201, 412),
            replayed_header(200, 201),
        ],
        request=CartItemAddInput,
        responses={
            200: CartLineOutput,
            201: CartLineOutput,
            **error_responses(
                "CartAdd",
                *LINE_WRITE_ERRORS,
                *IDEMPOTENCY_ERRORS,
                validation_codes=("body_and_query",),
            ),
        },
        summary="Add a product; adding it again merges the quantities.",
    )
    def post(self, request: Request, user_id: str) -> Response:
        fields = add_input(request)
        return respond_once(
            request,
            lambda: line_response(
                user_id,
                services.cart_item_add(
                    username=user_id,
                    new_owner=new_owner(request),
                    if_match=if_match(request, user_id),
                    **fields,
                ),
            ),
        )

    @extend_schema(
        operation_id="cart_get",
        parameters=[USER_ID, IF_NONE_MATCH, etag_header(200, 304)],
        responses={
            200: CartOutput,
            304: OpenApiResponse(description="Not modified: no body."),
            **error_responses("CartGet", *CART_ERRORS),
        },
    )
    def get(self, request: Request, user_id: str) -> HttpResponseBase:
        known = if_none_match(request, user_id)
        if known is not None:
            # The version alone answers a poll whose cart has not changed.
            version = selectors.cart_version(username=user_id)
            if isinstance(known, AnyVersion) or version in known:
                not_modified = HttpResponseNotModified()
                not_modified["ETag"] = cart_etag(user_id, version)
                return not_modified
        cart = selectors.cart_get(username=user_id)
        return Response(
            CartOutput.render(cart), headers={"ETag": cart_etag(user_id, cart.version)}
        )

    @extend_schema(
        operation_id="cart_clear",
        parameters=[USER_ID, IF_MATCH, etag_header(204, 412)],
        responses={
            204: None,
            **error_responses("CartClear", *CART_WRITE_ERRORS),
        },
    )
    def delete(self, request: Request, user_id: str) -> Response:
        version = services.cart_clear(
            username=user_id,
            user_known=request.user.username == user_id,
            if_match=if_match(request, user_id),
        )
        return no_content(user_id, version)


class CartItemView(CartAPIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @extend_schema(
        operation_id="cart_item_set",
        parameters=[
            USER_ID_FOR_WRITE,
            PRODUCT_ID,
            IF_MATCH,
            etag_header(200, 201, 204, 412),
        ],
        request=CartItemSetInput,
        responses={
            200: CartLineOutput,
            201: CartLineOutput,
            204: None,
            **error_responses("CartItemSet", *LINE_WRITE_ERRORS),
        },
        summary="Set a line's quantity; 0 removes the line.",
    )
    def put(self, request: Request, user_id: str, product_id: str) -> Response:
        write = services.cart_item_set_or_remove(
            username=user_id,
            product_id=product_id,
            new_owner=new_owner(request),
            if_match=if_match(request, user_id),
            **validated(CartItemSetInput, request.data),
        )
        if isinstance(write, LineWrite):
            return line_response(user_id, write)
        return no_content(user_id, write)

    @extend_schema(
        operation_id="cart_item_remove",
        parameters=[USER_ID, PRODUCT_ID, IF_MATCH, etag_header(204, 412)],
        responses={
            204: None,
            **error_responses("CartItemRemove", *CART_WRITE_ERRORS, LineNotFound),
        },
    )
    def delete(self, request: Request, user_id: str, product_id: str) -> Response:
        version = services.cart_item_remove(
            username=user_id,
            product_id=product_id,
            if_match=if_match(request, user_id),
        )
        return no_content(user_id, version)


class CartMergeView(CartAPIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @extend_schema(
        operation_id="cart_merge",
        parameters=[
            USER_ID_FOR_WRITE,
            IF_MATCH,
            IDEMPOTENCY_KEY,
            etag_header(200, 412),
            replayed_header(200),
        ],
        request=CartMergeInput,
        responses={
            200: CartMergeOutput,
            **error_responses(
                "CartMerge", *MERGE_ERRORS, validation_codes=("merge_source_required",)
            ),
        },
        summary="Merge a guest's cart into this cart (at login).",
    )
    def post(self, request: Request, user_id: str) -> Response:
        fields = validated(CartMergeInput, request.data)
        if "guest_token" in fields:
            guest = merge.guest_by_token(fields["guest_token"])
        elif request.user.is_staff:
            guest = merge.guest_by_id(fields["from_user_id"])
        else:
            raise PermissionDenied("Only staff may merge a cart by its user id.")

        def merge_response() -> Response:
            result = merge.cart_merge(
                guest=guest,
                username=user_id,
                mode=MergeMode(fields["mode"]),
                new_owner=new_owner(request),
                if_match=if_match(request, user_id),
            )
            plan = result.plan
            return Response(
                CartMergeOutput.render(
                    {
                        "cart": result.cart,
                        "merged": plan.merged,
                        "clamped": plan.clamped,
                        "dropped": plan.dropped,
                        "already_merged": result.already_merged,
                    }
                ),
                headers={"ETag": cart_etag(user_id, result.cart.version)},
            )

        return respond_once(request, merge_response)


class GuestView(CartAPIView):
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
    def post(self, request: Request) -> Response:
        user_id, token = owners.guest_create()
        return Response(
            GuestOutput.render({"user_id": user_id, "token": token}),
            status=status.HTTP_201_CREATED,
        )


class ProductListView(CartAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="product_list",
        responses={
            200: ProductOutput(many=True),
            **error_responses("ProductList", ServiceUnavailable),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(ProductOutput(selectors.product_list(), many=True).data)


class ProductDetailView(CartAPIView):
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
    def get(self, request: Request, product_id: str) -> Response:
        product = selectors.product_get(product_id=product_id)
        if product is None:
            raise ProductNotFound(product_id=product_id)
        return Response(ProductOutput(product).data)


class HealthView(CartAPIView):
    """Liveness: the process serves requests. Touches no database."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # probes, sent by the orchestrator

    @extend_schema(operation_id="healthz", responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(CartAPIView):
    """Readiness: the database answers and all migrations are applied."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []  # probes, sent by the orchestrator

    @extend_schema(
        operation_id="readyz",
        responses={200: dict, **error_responses("Readyz", ServiceUnavailable)},
    )
    def get(self, request: Request) -> Response:
        # A stalled database is a 503 within about a second, so that a load
        # balancer takes the instance out of rotation.
        with database_call(timeout=settings.DATABASE_READY_TIMEOUT):
            ready = selectors.database_ready()
        if not ready:
            raise ServiceUnavailable()
        return Response({"status": "ok"})


def json_not_found(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    """Django's 404 for paths outside the API, in the API's error shape."""
    return json_error(404, "not_found", "Not found.")


def json_server_error(request: HttpRequest) -> JsonResponse:
    return json_error(500, "error", "Server Error (500)")
