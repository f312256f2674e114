"""Cart rows get a generation (carts.models.Cart.generation): the ETag names
it with the version, so an id whose cart was deleted and created again never
repeats an ETag. Existing rows keep generation 0, and with it their ETags.

SQLite adds a column by rebuilding the table, which a trigger naming it (0006's,
kept on SQLite) does not survive: dropped around the rebuild, then restored."""

from importlib import import_module

from django.db import migrations, models

import carts.models

product_trigger = import_module(
    "carts.migrations.0006_product_changes_bump_cart_versions"
)


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0007_catalog_changes_lock_carts_in_one_order"),
    ]

    operations = [
        migrations.RunPython(
            product_trigger.by_vendor(sqlite=product_trigger.SQLITE_BACKWARD),
            product_trigger.by_vendor(sqlite=product_trigger.SQLITE),
        ),
        migrations.AddField(
            model_name="cart",
            name="generation",
            field=models.PositiveIntegerField(
                db_default=0, default=carts.models.new_generation
            ),
        ),
        migrations.RunPython(
            product_trigger.by_vendor(sqlite=product_trigger.SQLITE),
            product_trigger.by_vendor(sqlite=product_trigger.SQLITE_BACKWARD),
        ),
    ]
