"""The outbox's NOTIFY only when a long poll waits (measured: a NOTIFY at every
change's commit cost the write cells 9-20% of their throughput, since every
connection that LISTENs, the token cache's included, is signalled to read the
shared notification queue).

Long polls register their listening connection's backend in
carts_feed_waiter (unlogged: nothing to keep over a crash), and the trigger,
now a constraint trigger run at commit, notifies only while a row is there;
a waiter that registers while a change is committing learns of it by its
periodic re-read (carts.events.feed).
"""

from importlib import import_module

from django.db import migrations

by_vendor = import_module("carts.migrations.0006_product_changes_bump_cart_versions").by_vendor
every_commit = import_module("carts.migrations.0013_cart_events_notify")

POSTGRESQL = f"""
{every_commit.POSTGRESQL_BACKWARD}
CREATE UNLOGGED TABLE carts_feed_waiter (pid integer PRIMARY KEY);
CREATE FUNCTION carts_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM carts_feed_waiter) THEN
    PERFORM pg_notify('{every_commit.EVENTS_CHANNEL}', '');
  END IF;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER carts_events_notify
  AFTER INSERT ON carts_cartevent
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION carts_events_notify();
"""

POSTGRESQL_BACKWARD = f"""
{every_commit.POSTGRESQL_BACKWARD}
DROP TABLE carts_feed_waiter;
{every_commit.POSTGRESQL}
"""


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0014_webhooks"),
    ]

    operations = [
        migrations.RunPython(
            by_vendor(postgresql=POSTGRESQL), by_vendor(postgresql=POSTGRESQL_BACKWARD)
        ),
    ]
