"""Every transaction that writes cart events notifies EVENTS_CHANNEL at its
commit, so the feed's long polls (carts.events.feed) wake when there is
something to read. PostgreSQL only: SQLite has no notifications (its long
polls read again once a second).
"""

from importlib import import_module

from django.db import migrations

by_vendor = import_module("carts.migrations.0006_product_changes_bump_cart_versions").by_vendor

# carts.events.feed.EVENTS_CHANNEL, as it was when this migration was written.
EVENTS_CHANNEL = "carts_events"

POSTGRESQL = f"""
CREATE FUNCTION carts_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{EVENTS_CHANNEL}', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER carts_events_notify
  AFTER INSERT ON carts_cartevent
  FOR EACH STATEMENT EXECUTE FUNCTION carts_events_notify();
"""

POSTGRESQL_BACKWARD = """
DROP TRIGGER carts_events_notify ON carts_cartevent;
DROP FUNCTION carts_events_notify();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0012_catalog_changes_record_events"),
    ]

    operations = [
        migrations.RunPython(
            by_vendor(postgresql=POSTGRESQL), by_vendor(postgresql=POSTGRESQL_BACKWARD)
        ),
    ]
