"""HTTP <-> cart core translation: validate, call one function, render."""

from typing import Any

from django.http import HttpResponseBase, HttpResponseNotModified
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from ..auth.powers import may_act_on_any_cart
from ..cart import checkout, items, merge, owners, reads
from ..cart.items import ItemWrite
from ..cart.owners import NewOwner, new_owner_for
from ..domain.cart import CartContents
from ..domain.errors import ProductNotFound
from ..domain.rules import MergeMode
from ..events import feed
from . import schemas
from .base import CartAPIView
from .conditional import AnyVersion, cart_etag, if_match, if_none_match
from .idempotency import respond_once
from .permissions import IsCartOwnerOrStaff, IsStaff, MayReadEvents
from .serializers import (
    CartItemAddInput,
    CartItemAddQuery,
    CartItemOutput,
    CartItemSetInput,
    CartMergeInput,
    CartMergeOutput,
    CartOutput,
    CheckoutHoldOutput,
    CheckoutSnapshotOutput,
    EventFeedQuery,
    EventPageOutput,
    GuestOutput,
    ProductOutput,
)
from .throttling import AnonThrottle, GuestThrottle


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
    return new_owner_for(staff=may_act_on_any_cart(request.user))


def item_response(user_id: str, write: ItemWrite) -> Response:
    return Response(
        CartItemOutput.render(write.item),
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

    @schemas.CART_ADD
    def post(self, request: Request, user_id: str) -> Response:
        fields = add_input(request)
        return respond_once(
            request,
            lambda: item_response(
                user_id,
                items.cart_item_add(
                    user_id=user_id,
                    new_owner=new_owner(request),
                    if_match=if_match(request, user_id),
                    **fields,
                ),
            ),
        )

    @schemas.CART_GET
    def get(self, request: Request, user_id: str) -> HttpResponseBase:
        known = if_none_match(request, user_id)
        if known is not None:
            # The version alone answers a poll whose cart has not changed.
            version = reads.cart_version(user_id=user_id)
            if isinstance(known, AnyVersion) or version in known:
                not_modified = HttpResponseNotModified()
                not_modified["ETag"] = cart_etag(user_id, version)
                return not_modified
        return cart_response(reads.cart_get(user_id=user_id))

    @schemas.CART_CLEAR
    def delete(self, request: Request, user_id: str) -> Response:
        version = items.cart_clear(
            user_id=user_id,
            user_known=request.user.username == user_id,
            if_match=if_match(request, user_id),
        )
        return no_content(user_id, version)


class CartItemView(CartAPIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @schemas.CART_ITEM_SET
    def put(self, request: Request, user_id: str, product_id: str) -> Response:
        write = items.cart_item_set_or_remove(
            user_id=user_id,
            product_id=product_id,
            new_owner=new_owner(request),
            if_match=if_match(request, user_id),
            **validated(CartItemSetInput, request.data),
        )
        if isinstance(write, ItemWrite):
            return item_response(user_id, write)
        return no_content(user_id, write)

    @schemas.CART_ITEM_REMOVE
    def delete(self, request: Request, user_id: str, product_id: str) -> Response:
        version = items.cart_item_remove(
            user_id=user_id,
            product_id=product_id,
            if_match=if_match(request, user_id),
        )
        return no_content(user_id, version)


class CartMergeView(CartAPIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @schemas.CART_MERGE
    def post(self, request: Request, user_id: str) -> Response:
        fields = validated(CartMergeInput, request.data)
        if "guest_token" in fields:
            guest = merge.guest_by_token(fields["guest_token"])
        elif may_act_on_any_cart(request.user):
            guest = merge.guest_by_id(fields["from_user_id"])
        else:
            raise PermissionDenied("Only staff may merge a cart by its user id.")

        def merge_response() -> Response:
            result = merge.cart_merge(
                guest=guest,
                user_id=user_id,
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


def cart_response(cart: CartContents, **kwargs: Any) -> Response:
    return Response(
        CartOutput.render(cart),
        headers={"ETag": cart_etag(cart.user_id, cart.version)},
        **kwargs,
    )


class CartRepriceView(CartAPIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @schemas.CART_REPRICE
    def post(self, request: Request, user_id: str) -> Response:
        return cart_response(
            checkout.cart_reprice(user_id=user_id, if_match=if_match(request, user_id))
        )


@schemas.CHECKOUT_HOLD_VALIDATION
class CheckoutView(CartAPIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @schemas.CHECKOUT_HOLD
    def post(self, request: Request, user_id: str) -> Response:
        def hold_response() -> Response:
            cart = checkout.checkout_hold(
                user_id=user_id, if_match=if_match(request, user_id)
            )
            return Response(
                CheckoutHoldOutput.render(cart),
                status=status.HTTP_201_CREATED,
                headers={"ETag": cart_etag(user_id, cart.version)},
            )

        return respond_once(request, hold_response)


class CheckoutCompleteView(CartAPIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @schemas.CHECKOUT_COMPLETE
    def post(self, request: Request, user_id: str, checkout_id: str) -> Response:
        completion = checkout.checkout_complete(
            user_id=user_id, checkout_id=checkout_id
        )
        return Response(
            CheckoutSnapshotOutput.render(completion.snapshot)
            | {"already_completed": completion.already_completed}
        )


class CheckoutCancelView(CartAPIView):
    permission_classes = [IsAuthenticated, IsCartOwnerOrStaff]

    @schemas.CHECKOUT_CANCEL
    def post(self, request: Request, user_id: str, checkout_id: str) -> Response:
        return cart_response(
            checkout.checkout_cancel(user_id=user_id, checkout_id=checkout_id)
        )


class CheckoutSnapshotView(CartAPIView):
    """Staff read a completed checkout's order snapshot."""

    permission_classes = [IsAuthenticated, IsStaff]

    @schemas.CHECKOUT_GET
    def get(self, request: Request, checkout_id: str) -> Response:
        return Response(
            CheckoutSnapshotOutput.render(
                checkout.checkout_snapshot(checkout_id=checkout_id)
            )
        )


@schemas.events_list_validation
class EventFeedView(CartAPIView):
    """The cart event feed, in a total order, with long polling."""

    permission_classes = [IsAuthenticated, MayReadEvents]

    @schemas.EVENTS_LIST
    def get(self, request: Request) -> Response:
        query = validated(EventFeedQuery, request.query_params.dict())
        return Response(EventPageOutput.render(feed.events_page(**query)))


class GuestView(CartAPIView):
    """A guest: a user with an owner token, for an anonymous session."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle, GuestThrottle]

    @schemas.GUEST_CREATE
    def post(self, request: Request) -> Response:
        user_id, token = owners.guest_create()
        return Response(
            GuestOutput.render({"user_id": user_id, "token": token}),
            status=status.HTTP_201_CREATED,
        )


class ProductListView(CartAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @schemas.PRODUCT_LIST
    def get(self, request: Request) -> Response:
        return Response(ProductOutput(reads.product_list(), many=True).data)


class ProductDetailView(CartAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @schemas.PRODUCT_GET
    def get(self, request: Request, product_id: str) -> Response:
        product = reads.product_get(product_id=product_id)
        if product is None:
            raise ProductNotFound(product_id=product_id)
        return Response(ProductOutput(product).data)
