"""The cart's domain errors: a stable code and a message each, no framework.

Every interface maps `kind` to its own answer: the REST API to an HTTP status
(carts.api.errors), the gRPC servicer to a status code. The codes are part of
the API; the messages are for people.
"""

from enum import Enum


class ErrorKind(Enum):
    INVALID = "invalid"  # the request can never succeed as sent
    FORBIDDEN = "forbidden"  # the caller may not do this
    NOT_FOUND = "not_found"  # something it names does not exist
    LIMIT = "limit"  # a cart limit would be passed
    CONFLICT = "conflict"  # the cart's state does not allow it
    PRECONDITION = "precondition"  # the cart is not in the state the caller named
    REUSED = "reused"  # a one-time key given again for another request


class CartError(Exception):
    """An error of the cart's domain; `code` is part of the API."""

    kind: ErrorKind
    code: str
    message: str  # formatted with the keyword arguments given when raised

    def __init__(self, **values: object) -> None:
        self.values = values
        super().__init__(self.message.format(**values))


class ProductNotFound(CartError):
    kind = ErrorKind.NOT_FOUND
    code = "product_not_found"
    message = "Product '{product_id}' does not exist."


class UserNotFound(CartError):
    kind = ErrorKind.NOT_FOUND
    code = "user_not_found"
    message = "User '{user_id}' does not exist."


class ItemNotFound(CartError):
    kind = ErrorKind.NOT_FOUND
    code = "line_not_found"
    message = "Product '{product_id}' is not in the cart."


class InvalidQuantity(CartError):
    kind = ErrorKind.INVALID
    code = "invalid_quantity"
    message = "The quantity must be at least 1, not {quantity}."


class QuantityLimitExceeded(CartError):
    kind = ErrorKind.LIMIT
    code = "quantity_limit_exceeded"
    message = "A cart line may hold at most {limit} units."


class ItemLimitExceeded(CartError):
    kind = ErrorKind.LIMIT
    code = "cart_line_limit_exceeded"
    message = "A cart may hold at most {limit} lines."


class InvalidUserId(CartError):
    kind = ErrorKind.INVALID
    code = "invalid_user_id"
    message = "'{user_id}' cannot be a user id: at most 150 letters, digits and @.+-_."


class IdTooLong(CartError):
    kind = ErrorKind.INVALID
    code = "max_length"  # the REST API's code for an over-long id in a body
    message = "{field} may hold at most {limit} characters."


class NullCharacter(CartError):
    kind = ErrorKind.INVALID
    code = "null_characters_not_allowed"  # the REST API's, as for IdTooLong
    message = "{field} may not hold a NUL character."


class GuestNotFound(CartError):
    kind = ErrorKind.NOT_FOUND
    code = "guest_not_found"
    message = "No guest cart matches the {source} given."


class GuestAlreadyMerged(CartError):
    kind = ErrorKind.CONFLICT
    code = "guest_already_merged"
    message = "The guest cart '{user_id}' was merged into another cart."


class MergeIntoItself(CartError):
    kind = ErrorKind.INVALID
    code = "merge_into_itself"
    message = "A cart cannot be merged into itself."


class PreconditionFailed(CartError):
    """The cart's version is not one the caller expected; nothing changed.
    `version` is the cart's current version."""

    kind = ErrorKind.PRECONDITION
    code = "precondition_failed"
    message = "The cart of '{user_id}' has changed: its ETag does not match If-Match."


class InvalidIdempotencyKey(CartError):
    kind = ErrorKind.INVALID
    code = "invalid_idempotency_key"
    message = (
        "An Idempotency-Key is 1 to 255 visible ASCII characters, "
        "or such a string in double quotes."
    )


class IdempotencyKeyReused(CartError):
    kind = ErrorKind.REUSED
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for another request (body or path)."


class IdempotencyKeyInUse(CartError):
    kind = ErrorKind.CONFLICT
    code = "idempotency_key_in_use"
    message = (
        "A request with this Idempotency-Key is still running; retry shortly "
        "to get its answer."
    )


class CartInCheckout(CartError):
    """A live checkout holds the cart: nothing changes it until the hold is
    completed, cancelled or expires."""

    kind = ErrorKind.CONFLICT
    code = "cart_in_checkout"
    message = "The cart of '{user_id}' is held for checkout; it cannot change now."


class CheckoutAlreadyHeld(CartInCheckout):
    """A second checkout of a held cart: the message names the current hold."""

    message = (
        "The cart of '{user_id}' is held for checkout {checkout_id} until {expires_at}."
    )


class CartEmpty(CartError):
    kind = ErrorKind.CONFLICT
    code = "cart_empty"
    message = "The cart of '{user_id}' has nothing available to check out."


class CheckoutNotFound(CartError):
    kind = ErrorKind.NOT_FOUND
    code = "checkout_not_found"
    message = "No checkout '{checkout_id}' of this cart."


class CheckoutExpired(CartError):
    kind = ErrorKind.CONFLICT
    code = "checkout_expired"
    message = "Checkout '{checkout_id}' expired at {expires_at}; the cart is free."


class CheckoutCancelled(CartError):
    kind = ErrorKind.CONFLICT
    code = "checkout_cancelled"
    message = "Checkout '{checkout_id}' was cancelled."


class CheckoutCompleted(CartError):
    kind = ErrorKind.CONFLICT
    code = "checkout_completed"
    message = "Checkout '{checkout_id}' is completed; it cannot be cancelled."


class InvalidCursor(CartError):
    kind = ErrorKind.INVALID
    code = "invalid_cursor"
    message = "'{cursor}' is not a cursor of the event feed: give back a `next`."
