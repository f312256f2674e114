from django.contrib.auth.models import AbstractUser
from django.core.validators import MinLengthValidator, MinValueValidator
from django.db import models


class User(AbstractUser):
    """A shopper or an operator; the username is the cart's external id."""


class Product(models.Model):
    id = models.CharField(
        primary_key=True, max_length=64, validators=[MinLengthValidator(1)]
    )
    name = models.CharField(max_length=200)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="product_price_not_negative"
            ),
            models.CheckConstraint(
                condition=~models.Q(id=""), name="product_id_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


class CartItem(models.Model):
    """One line of a user's cart. The API writes through carts.services, the
    admin through carts.forms.CartItemForm, which checks the same rules."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="cart_items")
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="cart_items"
    )
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "product"], name="cart_item_one_line_per_product"
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="cart_item_quantity_positive"
            ),
        ]
        indexes = [
            # A cart is read as "all lines of one user in add order".
            models.Index(
                fields=["user", "created_at", "id"], name="cart_item_user_added"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.product_id} x {self.quantity}"
