"""Each operation's OpenAPI description, out of the views' way: its
parameters, bodies and exact error answers (carts.api.openapi builds them)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_standardized_errors.openapi_validation_errors import (
    extend_validation_errors,
)

from ..domain.errors import (
    CartEmpty,
    CartInCheckout,
    CheckoutCancelled,
    CheckoutCompleted,
    CheckoutExpired,
    CheckoutNotFound,
    GuestAlreadyMerged,
    GuestNotFound,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidIdempotencyKey,
    InvalidUserId,
    ItemLimitExceeded,
    ItemNotFound,
    MergeIntoItself,
    PreconditionFailed,
    ProductNotFound,
    QuantityLimitExceeded,
    UserNotFound,
)
from .errors import ServiceUnavailable
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
    path_parameter,
    replayed_header,
)
from .serializers import (
    CartItemAddInput,
    CartItemOutput,
    CartItemSetInput,
    CartMergeInput,
    CartMergeOutput,
    CartOutput,
    CheckoutCompleteOutput,
    CheckoutHoldOutput,
    CheckoutSnapshotOutput,
    EventFeedQuery,
    EventPageOutput,
    GuestOutput,
    ProductOutput,
)

# The errors beyond DRF's that each kind of operation documents.
CART_ERRORS = (UserNotFound, UNMATCHED_PATH, ServiceUnavailable)
# Writes under /cart/<user_id> take If-Match; some take Idempotency-Key; none
# changes a cart held for checkout.
CART_WRITE_ERRORS = (*CART_ERRORS, PreconditionFailed, CartInCheckout)
IDEMPOTENCY_ERRORS = (InvalidIdempotencyKey, IdempotencyKeyReused, IdempotencyKeyInUse)
ITEM_WRITE_ERRORS = (
    *CART_WRITE_ERRORS,
    InvalidUserId,
    ProductNotFound,
    QuantityLimitExceeded,
    ItemLimitExceeded,
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

CART_ADD = extend_schema(
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
        200: CartItemOutput,
        201: CartItemOutput,
        **error_responses(
            "CartAdd",
            *ITEM_WRITE_ERRORS,
            *IDEMPOTENCY_ERRORS,
            validation_codes=("body_and_query",),
        ),
    },
    summary="Add a product; adding it again merges the quantities.",
)

CART_GET = extend_schema(
    operation_id="cart_get",
    parameters=[USER_ID, IF_NONE_MATCH, etag_header(200, 304)],
    responses={
        200: CartOutput,
        304: OpenApiResponse(description="Not modified: no body."),
        **error_responses("CartGet", *CART_ERRORS),
    },
)

CART_CLEAR = extend_schema(
    operation_id="cart_clear",
    parameters=[USER_ID, IF_MATCH, etag_header(204, 412)],
    responses={204: None, **error_responses("CartClear", *CART_WRITE_ERRORS)},
)

CART_ITEM_SET = extend_schema(
    operation_id="cart_item_set",
    parameters=[
        USER_ID_FOR_WRITE,
        PRODUCT_ID,
        IF_MATCH,
        etag_header(200, 201, 204, 412),
    ],
    request=CartItemSetInput,
    responses={
        200: CartItemOutput,
        201: CartItemOutput,
        204: None,
        **error_responses("CartItemSet", *ITEM_WRITE_ERRORS),
    },
    summary="Set a line's quantity; 0 removes the line.",
)

CART_ITEM_REMOVE = extend_schema(
    operation_id="cart_item_remove",
    parameters=[USER_ID, PRODUCT_ID, IF_MATCH, etag_header(204, 412)],
    responses={
        204: None,
        **error_responses("CartItemRemove", *CART_WRITE_ERRORS, ItemNotFound),
    },
)

CART_MERGE = extend_schema(
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

GUEST_CREATE = extend_schema(
    operation_id="guest_create",
    request=None,
    responses={201: GuestOutput, **error_responses("GuestCreate", ServiceUnavailable)},
)

PRODUCT_LIST = extend_schema(
    operation_id="product_list",
    responses={
        200: ProductOutput(many=True),
        **error_responses("ProductList", ServiceUnavailable),
    },
)

PRODUCT_GET = extend_schema(
    operation_id="product_get",
    parameters=[PRODUCT_ID],
    responses={
        200: ProductOutput,
        **error_responses(
            "ProductGet", ProductNotFound, UNMATCHED_PATH, ServiceUnavailable
        ),
    },
)

CHECKOUT_ID = path_parameter(
    "checkout_id",
    "A checkout's id, as its hold answered it.",
    "0b5f3c9e-7d6a-4e0f-9a51-2f8c1d3e4b6a",
)
# Checkout steps name a checkout of the cart; an id that is none is a 404.
CHECKOUT_ERRORS = (*CART_ERRORS, CheckoutNotFound)

CART_REPRICE = extend_schema(
    operation_id="cart_reprice",
    parameters=[USER_ID, IF_MATCH, etag_header(200, 412)],
    request=None,
    responses={200: CartOutput, **error_responses("CartReprice", *CART_WRITE_ERRORS)},
    summary="Accept the current prices: every added_unit_price becomes the price.",
)

CHECKOUT_HOLD = extend_schema(
    operation_id="checkout_hold",
    parameters=[
        USER_ID,
        IF_MATCH,
        IDEMPOTENCY_KEY,
        etag_header(201, 412),
        replayed_header(201),
    ],
    request=None,
    responses={
        201: CheckoutHoldOutput,
        # Its 400 (invalid_idempotency_key): CHECKOUT_HOLD_VALIDATION.
        **error_responses(
            "CheckoutHold",
            *CART_WRITE_ERRORS,
            IdempotencyKeyReused,
            IdempotencyKeyInUse,
            CartEmpty,
            GuestAlreadyMerged,
        ),
    },
    summary="Hold the cart for checkout: nothing changes it until complete, "
    "cancel or CART_CHECKOUT_TTL.",
)

# The hold takes no body, so nothing else gives it a 400 (a validation error
# with no field): its one is the key's.
CHECKOUT_HOLD_VALIDATION = extend_validation_errors(
    [InvalidIdempotencyKey.code], methods=["post"]
)

CHECKOUT_COMPLETE = extend_schema(
    operation_id="checkout_complete",
    parameters=[USER_ID, CHECKOUT_ID],
    request=None,
    responses={
        200: CheckoutCompleteOutput,
        **error_responses(
            "CheckoutComplete", *CHECKOUT_ERRORS, CheckoutExpired, CheckoutCancelled
        ),
    },
    summary="Complete the checkout: the held items leave the cart; the order "
    "snapshot. A repeat answers the same snapshot.",
)

CHECKOUT_CANCEL = extend_schema(
    operation_id="checkout_cancel",
    parameters=[USER_ID, CHECKOUT_ID, etag_header(200)],
    request=None,
    responses={
        200: CartOutput,
        **error_responses("CheckoutCancel", *CHECKOUT_ERRORS, CheckoutCompleted),
    },
    summary="Release the hold; the cart.",
)

CHECKOUT_GET = extend_schema(
    operation_id="checkout_get",
    parameters=[CHECKOUT_ID],
    responses={
        200: CheckoutSnapshotOutput,
        **error_responses(
            "CheckoutGet", CheckoutNotFound, UNMATCHED_PATH, ServiceUnavailable
        ),
    },
    summary="A completed checkout's order snapshot (staff).",
)

EVENTS_LIST = extend_schema(
    operation_id="events_list",
    parameters=[EventFeedQuery],
    responses={
        200: EventPageOutput,
        **error_responses("EventsList", InvalidCursor, ServiceUnavailable),
    },
    summary="The cart event feed, in a total order (staff or event readers).",
)


# Its query's own 400s, by parameter (a GET has no body for the library to
# read them from).
def events_list_validation(view: type) -> type:
    for name, codes in [
        ("after", ["blank", "max_length", "null_characters_not_allowed"]),
        ("limit", ["invalid", "min_value", "max_value"]),
        ("wait", ["invalid", "min_value", "max_value"]),
    ]:
        view = extend_validation_errors(codes, field_name=name, methods=["get"])(view)
    return view


HEALTHZ = extend_schema(operation_id="healthz", responses={200: dict})

READYZ = extend_schema(
    operation_id="readyz",
    responses={200: dict, **error_responses("Readyz", ServiceUnavailable)},
)
