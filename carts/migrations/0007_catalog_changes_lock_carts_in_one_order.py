"""A catalog edit locks and records the carts it changes once, at commit, in
the order of their ids, however many products and statements it took
(replaces migration 0006's per-row trigger).

0006 locked, per product row, the carts holding that product: an edit of
several products in one transaction (the admin's list edits, loaddata,
Product.objects.update) locked carts product by product, so two such edits
over disjoint products, or one and a merge, could wait for each other in a
circle (docs/design.md, "Catalog edits"). Now a row trigger only notes the
product in a transaction-local setting, and a deferred constraint trigger,
run at commit, locks every cart holding a noted product in the order of
their ids (the cart aggregate's order: carts.cart.aggregate) and records the
change once: a new version. As before, the carts' last change (`updated_at`,
what purge_carts reads) stays as it was: a catalog edit is not the shopper's.
"""

from importlib import import_module

from django.db import migrations

per_row_trigger = import_module("carts.migrations.0006_product_changes_bump_cart_versions")

CHANGED_PRODUCTS = "carts.changed_products"
# What GET /cart shows of a product.
SHOWN_CHANGED = """(OLD.name IS DISTINCT FROM NEW.name
        OR OLD.price IS DISTINCT FROM NEW.price
        OR OLD.active IS DISTINCT FROM NEW.active)"""

POSTGRESQL = f"""
{per_row_trigger.POSTGRESQL_BACKWARD}

CREATE FUNCTION carts_product_note_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config(
    '{CHANGED_PRODUCTS}',
    (COALESCE(NULLIF(current_setting('{CHANGED_PRODUCTS}', true), ''), '[]')::jsonb
     || to_jsonb(NEW.id))::text,
    true);
  RETURN NULL;
END
$$;
CREATE TRIGGER carts_product_note_change
  AFTER UPDATE OF name, price, active ON carts_product
  FOR EACH ROW WHEN {SHOWN_CHANGED}
  EXECUTE FUNCTION carts_product_note_change();

-- At commit: the first firing takes every noted product, the others none.
CREATE FUNCTION carts_products_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  noted jsonb := NULLIF(current_setting('{CHANGED_PRODUCTS}', true), '')::jsonb;
BEGIN
  IF noted IS NULL THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('{CHANGED_PRODUCTS}', '', true);
  PERFORM 1 FROM carts_cart
  WHERE user_id IN (SELECT user_id FROM carts_cartitem
                    WHERE product_id IN (SELECT jsonb_array_elements_text(noted)))
  ORDER BY user_id FOR UPDATE;
  UPDATE carts_cart SET version = version + 1
  WHERE user_id IN (SELECT user_id FROM carts_cartitem
                    WHERE product_id IN (SELECT jsonb_array_elements_text(noted)));
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER carts_products_changed
  AFTER UPDATE OF name, price, active ON carts_product
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN {SHOWN_CHANGED}
  EXECUTE FUNCTION carts_products_changed();
"""

POSTGRESQL_BACKWARD = (
    """
DROP TRIGGER carts_products_changed ON carts_product;
DROP FUNCTION carts_products_changed();
DROP TRIGGER carts_product_note_change ON carts_product;
DROP FUNCTION carts_product_note_change();
"""
    + per_row_trigger.POSTGRESQL
)


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0006_product_changes_bump_cart_versions"),
    ]

    # SQLite (make run) lets one writer in at a time: 0006's trigger stays.
    operations = [
        migrations.RunPython(
            per_row_trigger.by_vendor(postgresql=POSTGRESQL),
            per_row_trigger.by_vendor(postgresql=POSTGRESQL_BACKWARD),
        ),
    ]
