"""A change to a product's name, price or state bumps the version of every cart
holding it, in the transaction of the change (API.md v2, "Versions and
conditional requests": a cart's ETag changes when what GET shows changes).

A trigger rather than a service or a signal: it holds for every writer, the
admin (its forms and list_editable), `Product.objects.update()`, loaddata and
raw SQL, and costs nothing on the cart's hot paths. A catalog edit pays for
it: one UPDATE of the carts that hold the product, locked in the order of
their ids, as carts.merge locks them. The carts' last change (`updated_at`,
what purge_carts reads) stays as it was: a catalog edit is not the shopper's.
"""

from django.db import migrations

POSTGRESQL = """
CREATE FUNCTION carts_product_shown_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM carts_cart
  WHERE user_id IN (SELECT user_id FROM carts_cartitem WHERE product_id = NEW.id)
  ORDER BY user_id FOR UPDATE;
  UPDATE carts_cart SET version = version + 1
  WHERE user_id IN (SELECT user_id FROM carts_cartitem WHERE product_id = NEW.id);
  RETURN NULL;
END
$$;
CREATE TRIGGER carts_product_shown_changed
  AFTER UPDATE OF name, price, active ON carts_product
  FOR EACH ROW
  WHEN (OLD.name IS DISTINCT FROM NEW.name
        OR OLD.price IS DISTINCT FROM NEW.price
        OR OLD.active IS DISTINCT FROM NEW.active)
  EXECUTE FUNCTION carts_product_shown_changed();
"""
POSTGRESQL_BACKWARD = """
DROP TRIGGER carts_product_shown_changed ON carts_product;
DROP FUNCTION carts_product_shown_changed();
"""

# SQLite lets one writer in at a time: no lock to take first.
SQLITE = """
CREATE TRIGGER carts_product_shown_changed
  AFTER UPDATE OF name, price, active ON carts_product
  FOR EACH ROW
  WHEN OLD.name IS NOT NEW.name OR OLD.price IS NOT NEW.price
       OR OLD.active IS NOT NEW.active
BEGIN
  UPDATE carts_cart SET version = version + 1
  WHERE user_id IN (SELECT user_id FROM carts_cartitem WHERE product_id = NEW.id);
END
"""
SQLITE_BACKWARD = "DROP TRIGGER carts_product_shown_changed"


def by_vendor(**statements: str):
    def run(apps, schema_editor) -> None:
        statement = statements.get(schema_editor.connection.vendor)
        if statement:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0005_cart_version_from_zero_idempotency_records"),
    ]

    operations = [
        migrations.RunPython(
            by_vendor(postgresql=POSTGRESQL, sqlite=SQLITE),
            by_vendor(postgresql=POSTGRESQL_BACKWARD, sqlite=SQLITE_BACKWARD),
        ),
    ]
