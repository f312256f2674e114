"""Input validation and output shapes; no persistence here."""

from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.functional import cached_property
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict

from ..cart.checkout import CheckoutSnapshot
from ..domain.cart import CartContents, Hold, Item, rfc3339
from ..domain.rules import PRODUCT_ID_MAX_LENGTH, USERNAME_MAX_LENGTH
from ..events import feed
from ..events.feed import EventPage


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: no booleans, floats (1.5 or 2.0) or numeric strings."""

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictInputSerializer(serializers.Serializer[Any]):
    """Rejects members it does not know, so a typo never passes silently.

    One instance per request, as usual, but all instances of a class share one
    set of fields: DRF gives each instance a deep copy of every field (a cost
    on every request), and validating reads the fields without changing them;
    their parent is an instance that is never validated (not partial, no
    context), which is all the fields ask of it."""

    @cached_property
    def fields(self) -> BindingDict:
        return _shared_fields(type(self))

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown},
                    code="unknown_field",
                )
        fields: dict[str, Any] = super().to_internal_value(data)
        return fields


@cache
def _shared_fields(serializer_class: type[StrictInputSerializer]) -> BindingDict:
    parent = serializer_class()
    return super(StrictInputSerializer, parent).fields


class CartItemAddInput(StrictInputSerializer):
    # Ids are matched exactly, as in paths: no whitespace is trimmed.
    product_id = serializers.CharField(
        min_length=1, max_length=PRODUCT_ID_MAX_LENGTH, trim_whitespace=False
    )
    quantity = StrictIntegerField(min_value=1, default=1)


class QueryIntegerField(serializers.IntegerField):
    """An integer in a query string: digits only (no "1.5", "2.0" or "true")."""

    def to_internal_value(self, data: Any) -> int:
        if not (
            isinstance(data, str) and data.lstrip("-").isdigit() and data.isascii()
        ):
            self.fail("invalid")
        return super().to_internal_value(data)


class CartItemAddQuery(StrictInputSerializer):
    """The add's two fields as query parameters, for seed clients."""

    # Ids are matched exactly, as in paths: no whitespace is trimmed.
    product_id = serializers.CharField(
        min_length=1, max_length=PRODUCT_ID_MAX_LENGTH, trim_whitespace=False
    )
    quantity = QueryIntegerField(min_value=1, default=1)


@extend_schema_field({"type": "string", "pattern": feed.CURSOR_PATTERN})
class CursorField(serializers.CharField):
    """A feed cursor (a page's `next`); carts.events.feed reads it."""


class EventFeedQuery(StrictInputSerializer):
    after = CursorField(required=False, max_length=64)
    limit = QueryIntegerField(min_value=1, max_value=feed.MAX_LIMIT, default=100)
    wait = QueryIntegerField(min_value=0, max_value=feed.MAX_WAIT, default=0)


class CartItemSetInput(StrictInputSerializer):
    quantity = StrictIntegerField(min_value=0)


class CartMergeInput(StrictInputSerializer):
    guest_token = serializers.CharField(
        required=False, min_length=1, max_length=64, trim_whitespace=False
    )
    from_user_id = serializers.CharField(
        required=False,
        min_length=1,
        max_length=USERNAME_MAX_LENGTH,
        trim_whitespace=False,
    )
    mode = serializers.ChoiceField(choices=["sum", "max"], default="sum")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("guest_token" in attrs) == ("from_user_id" in attrs):
            raise serializers.ValidationError(
                "Give exactly one of guest_token and from_user_id.",
                code="merge_source_required",
            )
        return attrs


class OutputSerializer(serializers.Serializer[Any]):
    """An output shape; `render` reuses one instance per class, because building
    a serializer deep-copies all its fields (a cost on every request) and
    rendering leaves the instance as it was."""

    @classmethod
    def render(cls, instance: Any) -> dict[str, Any]:
        return _shared(cls).to_representation(instance)


@cache
def _shared(serializer_class: type[OutputSerializer]) -> OutputSerializer:
    return serializer_class()


def _decimal_string(value: Decimal) -> str:
    """DecimalField(decimal_places=2)'s string for an amount in cents: the
    value rounded half to even to two places, as its quantize() would, in
    one step."""
    return f"{value:.2f}"


# The OpenAPI component keeps its published name (v1 called an item a line).
@extend_schema_serializer(component_name="CartLineOutput")
class CartItemOutput(OutputSerializer):
    product_id = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=None, decimal_places=2)
    added_unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    available = serializers.BooleanField()

    @classmethod
    def render(cls, instance: Item) -> dict[str, Any]:
        # The fields' output, without walking them: what every add, set and
        # read renders. tests/test_output_rendering.py holds it equal to
        # to_representation.
        unit_price = _decimal_string(instance.unit_price)
        return {
            "product_id": instance.product_id,
            "name": instance.name,
            "quantity": instance.quantity,
            "unit_price": unit_price,
            "line_total": _decimal_string(instance.line_total),
            "added_unit_price": unit_price
            if instance.added_unit_price == instance.unit_price
            else _decimal_string(instance.added_unit_price),
            "available": instance.available,
        }


@extend_schema_field(OpenApiTypes.STR)
class CurrencyField(serializers.Field[str, str, str, Any]):
    """The deployment's one currency (CART_CURRENCY), read when rendering."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value: Any) -> str:
        return settings.CART_CURRENCY


class WarningOutput(serializers.Serializer[Any]):
    """Why what is charged differs from what the customer saw: one per item."""

    code = serializers.ChoiceField(choices=["price_changed", "product_unavailable"])
    product_id = serializers.CharField()
    added_unit_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False
    )
    unit_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False
    )


class CheckoutOutput(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    expires_at = serializers.DateTimeField()
    state = serializers.ChoiceField(choices=["held"])


def _hold(hold: Hold | None) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {
        "id": str(hold.id),
        "expires_at": rfc3339(hold.expires_at),
        "state": "held",
    }


def _warning(warning: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _decimal_string(value) if isinstance(value, Decimal) else value
        for name, value in warning.items()
    }


class CartOutput(OutputSerializer):
    user_id = serializers.CharField()
    items = CartItemOutput(many=True)
    total_quantity = serializers.IntegerField()
    subtotal = serializers.DecimalField(max_digits=None, decimal_places=2)
    currency = CurrencyField()
    warnings = WarningOutput(many=True)
    checkout = CheckoutOutput(allow_null=True, source="hold")

    @classmethod
    def render(cls, instance: CartContents) -> dict[str, Any]:
        # As CartItemOutput.render.
        return {
            "user_id": instance.user_id,
            "items": [CartItemOutput.render(item) for item in instance.items],
            "total_quantity": instance.total_quantity,
            "subtotal": _decimal_string(instance.subtotal),
            "currency": settings.CART_CURRENCY,
            "warnings": [_warning(warning) for warning in instance.warnings],
            "checkout": _hold(instance.hold),
        }


class CheckoutHoldOutput(OutputSerializer):
    checkout = CheckoutOutput()
    cart = CartOutput()

    @classmethod
    def render(cls, instance: CartContents) -> dict[str, Any]:
        return {"checkout": _hold(instance.hold), "cart": CartOutput.render(instance)}


class ChargedItemOutput(serializers.Serializer[Any]):
    product_id = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=None, decimal_places=2)


class CheckoutSnapshotOutput(OutputSerializer):
    """A completed checkout: the items as charged."""

    checkout_id = serializers.UUIDField()
    completed_at = serializers.DateTimeField()
    items = ChargedItemOutput(many=True)
    subtotal = serializers.DecimalField(max_digits=None, decimal_places=2)
    currency = serializers.CharField()

    @classmethod
    def render(cls, instance: CheckoutSnapshot) -> dict[str, Any]:
        return {
            "checkout_id": str(instance.checkout_id),
            "completed_at": rfc3339(instance.completed_at),
            "items": [
                {
                    "product_id": item.product_id,
                    "name": item.name,
                    "quantity": item.quantity,
                    "unit_price": _decimal_string(item.unit_price),
                    "line_total": _decimal_string(item.line_total),
                }
                for item in instance.items
            ],
            "subtotal": _decimal_string(instance.subtotal),
            "currency": instance.currency,
        }


class CheckoutCompleteOutput(CheckoutSnapshotOutput):
    already_completed = serializers.BooleanField()


class GuestOutput(OutputSerializer):
    user_id = serializers.CharField()
    token = serializers.CharField()


class MergedLineOutput(serializers.Serializer[Any]):
    product_id = serializers.CharField()
    quantity = serializers.IntegerField()


class ClampedLineOutput(serializers.Serializer[Any]):
    product_id = serializers.CharField()
    requested = serializers.IntegerField()
    applied = serializers.IntegerField()


class DroppedLineOutput(serializers.Serializer[Any]):
    product_id = serializers.CharField()
    quantity = serializers.IntegerField()
    reason = serializers.ChoiceField(
        choices=["cart_line_limit_exceeded", "product_not_found"]
    )


class CartMergeOutput(OutputSerializer):
    cart = CartOutput()
    merged = MergedLineOutput(many=True)
    clamped = ClampedLineOutput(many=True)
    dropped = DroppedLineOutput(many=True)
    already_merged = serializers.BooleanField()


class ProductOutput(serializers.Serializer[Any]):
    id = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = CurrencyField()


# An event's fields (`data` cannot be a serializer's attribute).
EVENT_OUTPUT = inline_serializer(
    "EventOutput",
    {
        "id": serializers.CharField(),
        "type": serializers.CharField(),
        "user_id": serializers.CharField(),
        "cart_version": serializers.IntegerField(),
        "occurred_at": serializers.DateTimeField(),
        "data": serializers.DictField(),
    },
)


class EventPageOutput(OutputSerializer):
    """A page of the event feed and the cursor to follow it."""

    events = serializers.ListField(child=EVENT_OUTPUT)
    next = serializers.CharField()

    @classmethod
    def render(cls, instance: EventPage) -> dict[str, Any]:
        return {
            "events": [feed.event_json(event) for event in instance.events],
            "next": instance.next,
        }
