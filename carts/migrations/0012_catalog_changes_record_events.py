"""A catalog edit's change of the carts it touches records an event, as every
change of a cart does (carts.cart.aggregate, rule 2): `cart.catalog_changed`,
with the changed products the cart holds, written with the version bump by
the triggers of migrations 0007 (PostgreSQL, at commit) and 0006 (SQLite).
"""

from importlib import import_module

from django.db import migrations

per_row_trigger = import_module("carts.migrations.0006_product_changes_bump_cart_versions")
at_commit_trigger = import_module(
    "carts.migrations.0007_catalog_changes_lock_carts_in_one_order"
)

CHANGED_PRODUCTS = at_commit_trigger.CHANGED_PRODUCTS

POSTGRESQL = f"""
CREATE OR REPLACE FUNCTION carts_products_changed() RETURNS trigger
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
  WITH bump AS (
    UPDATE carts_cart SET version = version + 1,
      event_position = GREATEST(event_position, pg_current_xact_id()::text::bigint)
    WHERE user_id IN (SELECT user_id FROM carts_cartitem
                      WHERE product_id IN (SELECT jsonb_array_elements_text(noted)))
    RETURNING user_id, generation * 4294967296 + version AS version, event_position)
  INSERT INTO carts_cartevent
    (position, user_pk, username, type, cart_version, occurred_at, data)
  SELECT b.event_position, b.user_id, u.username,
    'cart.catalog_changed', b.version, now(),
    jsonb_build_object('product_ids',
      (SELECT jsonb_agg(c.product_id ORDER BY c.product_id) FROM carts_cartitem c
       WHERE c.user_id = b.user_id
         AND c.product_id IN (SELECT jsonb_array_elements_text(noted))))
  FROM bump b JOIN carts_user u ON u.id = b.user_id;
  RETURN NULL;
END
$$;
"""

# 0007's triggers and function again, as 0007 made them.
POSTGRESQL_BACKWARD = at_commit_trigger.POSTGRESQL_BACKWARD + at_commit_trigger.POSTGRESQL

SQLITE = """
CREATE TRIGGER carts_product_shown_changed
  AFTER UPDATE OF name, price, active ON carts_product
  FOR EACH ROW
  WHEN OLD.name IS NOT NEW.name OR OLD.price IS NOT NEW.price
       OR OLD.active IS NOT NEW.active
BEGIN
  UPDATE carts_cart SET version = version + 1
  WHERE user_id IN (SELECT user_id FROM carts_cartitem WHERE product_id = NEW.id);
  INSERT INTO carts_cartevent
    (position, user_pk, username, type, cart_version, occurred_at, data)
  SELECT 0, k.user_id, u.username, 'cart.catalog_changed',
    k.generation * 4294967296 + k.version,
    strftime('%Y-%m-%d %H:%M:%f', 'now'), json_object('product_ids', json_array(NEW.id))
  FROM carts_cart k JOIN carts_user u ON u.id = k.user_id
  WHERE k.user_id IN (SELECT user_id FROM carts_cartitem WHERE product_id = NEW.id);
END
"""


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0011_cart_event_outbox"),
    ]

    operations = [
        migrations.RunPython(
            per_row_trigger.by_vendor(postgresql=POSTGRESQL),
            per_row_trigger.by_vendor(postgresql=POSTGRESQL_BACKWARD),
        ),
        migrations.RunPython(
            per_row_trigger.by_vendor(sqlite=per_row_trigger.SQLITE_BACKWARD),
            per_row_trigger.by_vendor(sqlite=per_row_trigger.SQLITE),
        ),
        migrations.RunPython(
            per_row_trigger.by_vendor(sqlite=SQLITE),
            per_row_trigger.by_vendor(sqlite=per_row_trigger.SQLITE_BACKWARD),
        ),
    ]
