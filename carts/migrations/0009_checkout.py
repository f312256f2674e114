"""Checkout-ready carts (issue 20): each item keeps the price it was added at
(existing items: the current price), and a cart can be held for checkout
(carts.models.Checkout)."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

import django.db.models.deletion
import django.utils.timezone
import uuid

from django.conf import settings



def price_as_added_now(apps, schema_editor) -> None:
    CartItem = apps.get_model("carts", "CartItem")
    Product = apps.get_model("carts", "Product")
    CartItem.objects.update(
        added_unit_price=Subquery(
            Product.objects.filter(pk=OuterRef("product_id")).values("price")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0008_cart_generation"),
    ]

    operations = [
        migrations.AddField(
            model_name="cartitem",
            name="added_unit_price",
            field=models.DecimalField(
                blank=True, decimal_places=2, max_digits=12, null=True
            ),
        ),
        migrations.RunPython(price_as_added_now, migrations.RunPython.noop),
        migrations.CreateModel(
            name="Checkout",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, primary_key=True, serialize=False
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("held", "Held"),
                            ("completed", "Completed"),
                            ("cancelled", "Cancelled"),
                            ("expired", "Expired"),
                        ],
                        default="held",
                        max_length=16,
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now),
                ),
                ("expires_at", models.DateTimeField()),
                ("items", models.JSONField(default=list)),
                ("currency", models.CharField(max_length=3)),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="checkouts",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "indexes": [
                    models.Index(
                        fields=["completed_at"], name="checkout_completed_at"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("state", "held")),
                        fields=("user",),
                        name="checkout_one_held_per_cart",
                    )
                ],
            },
        ),
    ]
