"""The operators' view of carts.

Every changelist computes its numbers in its page query (annotations,
`list_select_related`; on Citus one more query, FiguresOnEachPage), so a page
costs the same number of queries whatever its size. Edits of cart lines go
through CartItemForm: the API's rules as form errors; an edit of a cart held
for checkout is refused with a message.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DecimalField,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from .cart.aggregate import cart_change
from .cart.checkout import checkout_release
from .database.citus import citus_installed
from .domain.cart import Item, money
from .domain.errors import CartInCheckout
from .events.delivery import deliveries_redeliver
from .events.types import EVENT_TYPES
from .forms import CartItemForm, CartItemFormSet
from .models import (
    Cart,
    CartItem,
    Checkout,
    Product,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

MONEY = DecimalField(max_digits=20, decimal_places=2)

# What an operator's edit of a cart's lines records (API.md, "Events").
EDITED = "cart.edited"
_BY_ADMIN = {"source": "admin"}


def lines_figure(owner: str, figure: Aggregate) -> Subquery:
    """`figure` (an aggregate) over the cart lines of each row, where `owner`
    is "user" or "product". A correlated subquery rather than JOIN + GROUP BY:
    PostgreSQL computes it for the page's rows only (after ORDER BY/LIMIT), and
    the changelist's COUNT queries leave it out instead of joining every line.
    """
    lines = CartItem.objects.filter(**{owner: OuterRef("pk")}).order_by()
    return Subquery(lines.values(owner).annotate(figure=figure).values("figure"))


@admin.display(description="unit price")
def unit_price(line: CartItem) -> Decimal:
    return line.product.price


@admin.display(description="line total")
def line_total(line: CartItem) -> Decimal:
    return line.quantity * line.product.price


@admin.display(description="price as added")
def added_unit_price(line: CartItem) -> Decimal:
    return line.added_unit_price or line.product.price


@admin.display(description="warning")
def warning(line: CartItem) -> str:
    """The warning the cart's answers give for this line, in words."""
    product = line.product
    item = Item(
        product.pk,
        product.name,
        line.quantity,
        product.price,
        line.added_unit_price or product.price,
        product.active,
    )
    if item.warning is None:
        return ""
    if not item.available:
        return "no longer available"
    return f"price changed from {item.added_unit_price} to {item.unit_price}"


@contextmanager
def unless_held(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest
) -> Iterator[None]:
    """A change of a cart held for checkout changes nothing (the aggregate
    refuses it before the change): the operator is told why."""
    try:
        yield
    except CartInCheckout as error:
        model_admin.message_user(request, f"Not saved: {error}", messages.ERROR)


class CartLineInline(admin.TabularInline[CartItem, User]):
    """The user's cart in add order: quantities editable, lines removable.
    A new line is added on the cart line page (the "Add a cart line" link)."""

    model = CartItem
    form = CartItemForm
    formset = CartItemFormSet
    # Callables among the fields: Django shows them read-only; the stubs allow
    # only names there.
    fields = [
        "product",
        "quantity",
        unit_price,  # type: ignore[list-item]
        line_total,  # type: ignore[list-item]
        added_unit_price,  # type: ignore[list-item]
        warning,  # type: ignore[list-item]
        "created_at",
        "updated_at",
    ]
    # Only the quantity is edited here.
    readonly_fields = [field for field in fields if field != "quantity"]  # type: ignore[misc]
    ordering = ["created_at", "id"]
    extra = 0
    show_change_link = True
    verbose_name = "cart line"

    def get_queryset(self, request: HttpRequest) -> QuerySet[CartItem]:
        return super().get_queryset(request).select_related("product")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MergedFilter(admin.SimpleListFilter):
    title = "merged"
    parameter_name = "merged"

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        return [("yes", "merged guests"), ("no", "not merged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(cart__merged_at__isnull=self.value() == "no")
        return queryset


# The cart figures of a list's rows: name -> (aggregate over the rows' cart
# lines, its value for a row without lines).
CART_FIGURES: dict[str, tuple[Aggregate, Any]] = {
    "cart_line_count": (Count("id"), 0),
    "cart_total_quantity": (Sum("quantity"), 0),
    "cart_subtotal_amount": (
        Sum(F("quantity") * F("product__price"), output_field=MONEY),
        Decimal("0.00"),
    ),
}
PRODUCT_FIGURES: dict[str, tuple[Aggregate, Any]] = {"cart_count": (Count("id"), 0)}


def figure_annotations(
    owner: str, figures: dict[str, tuple[Aggregate, Any]]
) -> dict[str, Coalesce]:
    """`figures` as annotations of the page query; `owner` as for
    lines_figure."""
    return {
        name: Coalesce(lines_figure(owner, aggregate), Value(empty))
        for name, (aggregate, empty) in figures.items()
    }


class CartFiguresMixin:
    """Columns for CART_FIGURES."""

    @admin.display(description="cart lines", ordering="cart_line_count")
    def cart_lines(self, obj: Any) -> int:
        return int(obj.cart_line_count)

    @admin.display(description="total quantity", ordering="cart_total_quantity")
    def cart_quantity(self, obj: Any) -> int:
        return int(obj.cart_total_quantity)

    @admin.display(description="subtotal", ordering="cart_subtotal_amount")
    def cart_subtotal(self, obj: Any) -> Decimal:
        # Two places on every database: SQLite's SUM comes back as a float.
        return money(obj.cart_subtotal_amount)


class FiguresOnEachPage(admin.ModelAdmin[Any]):
    """The list's and change page's figures (`figures`, over the lines of each
    row's `figures_owner`) as annotations of the page query. On Citus the
    rows are a reference table's (carts_user, carts_product), under which it
    refuses correlated subqueries on the lines: there the page's rows get
    them from one more query, and their columns do not sort
    (docs/scaling.md, "The admin on Citus")."""

    figures_owner: str
    figures: dict[str, tuple[Aggregate, Any]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request)
        if not citus_installed(connection):
            queryset = queryset.annotate(
                **figure_annotations(self.figures_owner, self.figures)
            )
        return queryset

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        if citus_installed(connection):
            return FiguresByPageChangeList
        return super().get_changelist(request, **kwargs)

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: Any = None
    ) -> Any:
        row = super().get_object(request, object_id, from_field)
        if row is not None and citus_installed(connection):
            self.add_figures([row])
        return row

    def add_figures(self, rows: Any) -> None:
        """The figures of `rows` (model instances) in one query."""
        rows = list(rows)
        owner = self.figures_owner
        found = {
            figures[owner]: figures
            for figures in CartItem.objects.filter(
                **{f"{owner}__in": [row.pk for row in rows]}
            )
            .order_by()
            .values(owner)
            .annotate(
                **{
                    name: aggregate
                    for name, (aggregate, _empty) in self.figures.items()
                }
            )
        }
        for row in rows:
            for name, (_aggregate, empty) in self.figures.items():
                setattr(row, name, found.get(row.pk, {}).get(name, empty))


class FiguresByPageChangeList(ChangeList):
    """A list whose page's rows get their figures after the page query
    (FiguresOnEachPage, on Citus)."""

    model_admin: FiguresOnEachPage

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sortable_by = [
            column
            for column in self.sortable_by or ()
            if self.get_ordering_field(column) is not None
        ]

    def get_ordering_field(self, field_name: Any) -> Any:
        # Not a column of the page query: a sort by a figure is not offered,
        # and ignored when asked for.
        ordering_field = super().get_ordering_field(field_name)
        return None if ordering_field in self.model_admin.figures else ordering_field

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.model_admin.add_figures(self.result_list)


@admin.register(User)
class UserAdmin(CartFiguresMixin, FiguresOnEachPage, BaseUserAdmin[User]):
    list_display = [
        "username",
        "is_staff",
        "is_guest",
        "merged_into",
        "cart_lines",
        "cart_quantity",
        "cart_subtotal",
    ]
    list_filter = ["is_guest", MergedFilter, *BaseUserAdmin.list_filter]
    # The cart first; the account's other sections folded away.
    fieldsets = (
        (None, {"fields": ("username", "password", "is_guest", "merged_into")}),
        (
            _("Cart"),
            {"fields": ("cart_lines", "cart_quantity", "cart_subtotal", "add_line")},
        ),
        (
            _("Personal info"),
            {"fields": ("first_name", "last_name", "email"), "classes": ["collapse"]},
        ),
        (
            _("Permissions"),
            {
                "fields": (
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "groups",
                    "user_permissions",
                ),
                "classes": ["collapse"],
            },
        ),
        (
            _("Important dates"),
            {"fields": ("last_login", "date_joined"), "classes": ["collapse"]},
        ),
    )
    readonly_fields = [
        "is_guest",
        "merged_into",
        "cart_lines",
        "cart_quantity",
        "cart_subtotal",
        "add_line",
    ]
    inlines = [CartLineInline]
    figures_owner = "user"
    figures = CART_FIGURES

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        users: QuerySet[User] = super().get_queryset(request)
        return users.annotate(merged_into_username=F("cart__merged_into__username"))

    def get_inlines(self, request: HttpRequest, obj: User | None) -> list[Any]:
        return list(self.inlines) if obj else []

    def save_formset(
        self,
        request: HttpRequest,
        form: ModelForm[User],
        formset: BaseInlineFormSet[Any, User, Any],
        change: bool,
    ) -> None:
        if formset.model is not CartItem or not formset.has_changed():
            super().save_formset(request, form, formset, change)
            return
        # CartItemFormSet refused a held cart's changes, its lock held since.
        with cart_change(user_pks=[form.instance.pk], event=EDITED, data=_BY_ADMIN):
            super().save_formset(request, form, formset, change)

    @admin.display(description="merged into", ordering="merged_into_username")
    def merged_into(self, user: Any) -> str:  # annotated by get_queryset
        return str(user.merged_into_username or "")

    @admin.display(description="new line")
    def add_line(self, user: User) -> str:
        url = reverse("admin:carts_cartitem_add")
        return format_html('<a href="{}?user={}">Add a cart line</a>', url, user.pk)


@admin.register(CartItem)
class CartItemAdmin(admin.ModelAdmin[CartItem]):
    form = CartItemForm
    list_display = [
        "user",
        "product",
        "quantity",
        line_total,  # type: ignore[list-item]  # a display callable
        added_unit_price,  # type: ignore[list-item]
        warning,
        "created_at",
        "updated_at",
    ]
    list_select_related = ["user", "product"]
    search_fields = ["user__username", "product__id", "product__name"]
    list_filter = ["product", "created_at", "updated_at"]
    date_hierarchy = "updated_at"
    autocomplete_fields = ["user", "product"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(
        self, request: HttpRequest, obj: CartItem, form: Any, change: bool
    ) -> None:
        # CartItemForm refused a held cart's changes, its lock held since.
        with cart_change(user_pks=[obj.user_id], event=EDITED, data=_BY_ADMIN):
            super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: CartItem) -> None:
        with (
            unless_held(self, request),
            cart_change(user_pks=[obj.user_id], event=EDITED, data=_BY_ADMIN),
        ):
            super().delete_model(request, obj)

    def delete_queryset(
        self, request: HttpRequest, queryset: QuerySet[CartItem]
    ) -> None:
        # Outside the admin's page transaction (an action): the aggregate's
        # own transaction holds the deletes and their record together.
        owners = queryset.values_list("user_id", flat=True)
        with (
            unless_held(self, request),
            cart_change(user_pks=owners, event=EDITED, data=_BY_ADMIN),
        ):
            super().delete_queryset(request, queryset)


@admin.register(Cart)
class CartAdmin(CartFiguresMixin, admin.ModelAdmin[Cart]):
    """Every cart, the most recently changed first; read-only (lines are
    edited on their owner's page, where the cart's rules apply)."""

    list_display = [
        "user",
        "guest",
        "state",
        "cart_lines",
        "cart_quantity",
        "cart_subtotal",
        "updated_at",
        "version",
        "merged_into",
    ]
    list_select_related = ["user", "merged_into"]
    list_filter = ["user__is_guest", "updated_at"]
    search_fields = ["user__username"]
    ordering = ["-updated_at"]
    actions = ["release_holds"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cart]:
        live_hold = Checkout.objects.filter(
            user=OuterRef("user"),
            state=Checkout.State.HELD,
            expires_at__gt=timezone.now(),
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                held_until=Subquery(live_hold.values("expires_at")[:1]),
                **figure_annotations("user", CART_FIGURES),
            )
        )

    @admin.display(description="state", ordering="held_until")
    def state(self, cart: Any) -> str:  # annotated by get_queryset
        if cart.merged_at is not None:
            return "merged guest"
        if cart.held_until is not None:
            held_until = timezone.localtime(cart.held_until)
            return f"held until {held_until:%Y-%m-%d %H:%M:%S}"
        return "active"

    @admin.action(description="Release the checkout hold of the selected carts")
    def release_holds(self, request: HttpRequest, queryset: QuerySet[Cart]) -> None:
        released = sum(
            checkout_release(user_pk=user_pk)
            for user_pk in queryset.values_list("user_id", flat=True)
        )
        self.message_user(request, f"Released {released} checkout hold(s).")

    @admin.display(description="guest", boolean=True, ordering="user__is_guest")
    def guest(self, cart: Cart) -> bool:
        return cart.user.is_guest

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(FiguresOnEachPage, admin.ModelAdmin[Product]):
    list_display = ["id", "name", "price", "active", "carts"]
    list_editable = ["price", "active"]
    list_filter = ["active"]
    search_fields = ["id", "name"]
    figures_owner = "product"
    figures = PRODUCT_FIGURES

    @admin.display(description="in carts", ordering="cart_count")
    def carts(self, product: Any) -> int:  # annotated by get_queryset
        return int(product.cart_count)


# ---------------------------------------------------------------------------
# Webhooks (manage.py deliver_events): endpoints edited here, deliveries shown
# with their attempts, dead ones filtered and redelivered.
# ---------------------------------------------------------------------------


class WebhookEndpointForm(ModelForm[WebhookEndpoint]):
    url = forms.URLField(label="URL", max_length=2000, assume_scheme="https")
    event_types = forms.TypedMultipleChoiceField(
        choices=[(name, name) for name in EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked: every type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "active", "event_types", "secret"]

    def clean_secret(self) -> str:
        secret: str = self.cleaned_data["secret"].strip()
        try:
            valid = secret.startswith("whsec_") and bool(Webhook(secret))
        except (ValueError, EmptyWebhookSecretError):
            valid = False
        if not valid:
            raise forms.ValidationError(
                "A Standard Webhooks secret: whsec_ and base64 of random bytes."
            )
        return secret


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin[WebhookEndpoint]):
    form = WebhookEndpointForm
    list_display = ["__str__", "url", "active", "subscribed", "created_at"]
    list_filter = ["active"]
    search_fields = ["url", "description"]

    @admin.display(description="event types")
    def subscribed(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.event_types) or "all"


class WebhookAttemptInline(admin.TabularInline[WebhookAttempt, WebhookDelivery]):
    model = WebhookAttempt
    fields = readonly_fields = (
        "started_at",
        "duration",
        "status_code",
        "error",
        "response",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    """Read-only; "redeliver" queues the selected deliveries again."""

    list_display = [
        "event_id",
        "event_type",
        "cart",
        "endpoint",
        "state",
        "attempts",
        "next_attempt_at",
        "queued_at",
        "finished_at",
    ]
    list_select_related = ["event", "endpoint"]
    list_filter = ["state", "endpoint"]
    search_fields = ["event__username", "=event__id"]
    fields = readonly_fields = (
        "endpoint",
        "event_id",
        "event_type",
        "cart",
        "state",
        "attempts",
        "next_attempt_at",
        "queued_at",
        "finished_at",
    )
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    @admin.display(description="event type", ordering="event__type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.display(description="user id", ordering="event__username")
    def cart(self, delivery: WebhookDelivery) -> str:
        return delivery.event.username

    @admin.action(
        description="Redeliver the selected deliveries", permissions=["change"]
    )
    def redeliver(
        self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]
    ) -> None:
        count = deliveries_redeliver(deliveries=queryset)
        self.message_user(request, f"Queued {count} deliveries again.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
