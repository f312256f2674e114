"""On a Citus cluster's coordinator (the citus extension installed), the
tables distributed by the shopper (docs/scaling.md, "Citus in practice").
On plain PostgreSQL and SQLite this does nothing.

- Per-shopper tables, distributed by the shopper's id and co-located (shard
  N of each on one node, so a cart's lock, lines, version bump, hold,
  idempotency record and event are one local transaction there):
  carts_cart.user_id, carts_cartitem.user_id, carts_idempotencyrecord.
  caller_id, carts_checkout.user_id, carts_cartevent.user_pk. Citus wants
  the distribution column in every unique constraint: their primary keys
  become (shopper, id); Django still reads and writes rows by `id`, which is
  unique by itself (an identity column). Their foreign keys to carts_user
  and carts_product stay (to reference tables).
- Reference tables (a copy on every node, written on all of them in one
  two-phase commit): what a shard's statements join or check, the catalog,
  carts_user, authtoken_token, and the permission tables their foreign
  keys reach (content types, permissions, groups).
- Citus-managed local tables, on the coordinator only: the webhooks'
  endpoints, deliveries and attempts (one deliverer reads them, never a
  shard; their foreign keys to each other stay) and the admin's log (a
  foreign key to carts_user). django_session, django_migrations and the
  long polls' carts_feed_waiter stay plain local tables.
- The delivery's foreign key to its event (ON DELETE CASCADE) is dropped:
  Citus has no foreign key from a local table to a distributed one.
- Triggers: a reference table's triggers fire on each node's copy. The
  token cache's (0002, 0010) notify on the coordinator's copy only, where
  the service listens (a NOTIFY on a worker would fail its two-phase
  commit). The catalog's (0007,
  0012) act on the coordinator's copy only, without the multi-shard
  `SELECT ... FOR UPDATE` that Citus refuses (the UPDATE locks each cart,
  and Citus's distributed deadlock detection breaks a cycle with a
  concurrent merge), and positions from carts_feed_position(). The outbox's
  NOTIFY (0015) would fire on the workers, where no long poll listens: it
  is dropped, and long polls on Citus find new events by their periodic
  re-read (carts.events.feed).
- carts_feed_position(): the feed position of a change (carts.cart.sql,
  carts.events.feed): Citus's distributed transaction number, assigned by
  the coordinator, one order for all nodes (counted from the coordinator's
  start). STABLE, so Citus evaluates it on the coordinator before it sends
  an UPDATE to a worker. carts_feed_settled(): the feed's horizon.
  carts_lock_cart(): LOCK_CART on Citus (carts.cart.sql).

Identity columns (every Django id) become plain sequences on Citus: Citus
sends an identity's default to the node that stores the row, whose own
sequence repeats ids, and cannot undistribute a table with one; nextval()
it evaluates on the coordinator. Reversible: backwards, the tables are
undistributed (their rows copied back to the coordinator), and the keys,
identities and triggers are put back as migrations 0002 to 0015 made them.
"""

from importlib import import_module

from django.db import migrations

from carts.database.citus import citus_installed

auth_notify = import_module("carts.migrations.0002_auth_change_notifications")
catalog_lock = import_module(
    "carts.migrations.0007_catalog_changes_lock_carts_in_one_order"
)
permission_notify = import_module("carts.migrations.0010_manage_any_cart_permission")
catalog_events = import_module("carts.migrations.0012_catalog_changes_record_events")
every_commit = import_module("carts.migrations.0013_cart_events_notify")
notify_waiters = import_module("carts.migrations.0015_events_notify_only_waiters")
CHANGED_PRODUCTS = catalog_events.CHANGED_PRODUCTS
SHOWN_CHANGED = catalog_lock.SHOWN_CHANGED

# Citus names each constraint as Django made it, so migrations after this
# one can name them too.
DISTRIBUTED = {
    # table: (distribution column, primary key's constraint, foreign keys)
    "carts_cart": (
        "user_id",
        None,
        {
            "carts_cart_user_id_bd0756c7_fk_carts_user_id": "user_id",
            "carts_cart_merged_into_id_d0d5ec85_fk_carts_user_id": "merged_into_id",
        },
    ),
    "carts_cartitem": (
        "user_id",
        "carts_cartitem_pkey",
        {"carts_cartitem_user_id_4d21e0d9_fk_carts_user_id": "user_id"},
    ),
    "carts_idempotencyrecord": (
        "caller_id",
        "carts_idempotencyrecord_pkey",
        {"carts_idempotencyrecord_caller_id_06212f08_fk_carts_user_id": "caller_id"},
    ),
    "carts_checkout": (
        "user_id",
        "carts_checkout_pkey",
        {"carts_checkout_user_id_0a9261f1_fk_carts_user_id": "user_id"},
    ),
    "carts_cartevent": ("user_pk", "carts_cartevent_pkey", {}),
}
PRODUCT_FOREIGN_KEY = "carts_cartitem_product_id_acd010e4_fk_carts_product_id"
# Referenced tables before the tables that refer to them.
REFERENCE = [
    "django_content_type",
    "auth_permission",
    "auth_group",
    "auth_group_permissions",
    "carts_user",
    "carts_user_groups",
    "carts_user_user_permissions",
    "authtoken_token",
    "carts_product",
]
# Citus-managed local tables: these two, and with cascade_via_foreign_keys
# the ones their foreign keys reach (the deliveries and attempts).
LOCAL = ["carts_webhookendpoint", "django_admin_log"]
# The token cache's triggers (0002 and 0010: trigger, table, events).
AUTH_TRIGGERS = [
    ("carts_token_changed", "authtoken_token", "UPDATE OR DELETE"),
    ("carts_user_changed", "carts_user", "UPDATE OR DELETE"),
    *(
        (trigger, table, "INSERT OR UPDATE OR DELETE")
        for trigger, table in permission_notify.THROUGH_TABLES.items()
    ),
]
# All of them, for the identity columns' change.
LOCAL_TABLES = [
    *("carts_webhookendpoint", "carts_webhookdelivery", "carts_webhookattempt"),
    "django_admin_log",
]


def _foreign_key(table: str, name: str, column: str, target: str) -> str:
    return f"""ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column})
      REFERENCES {target}(id) DEFERRABLE INITIALLY DEFERRED"""


def _distribute() -> list[str]:
    """Foreign keys to the future reference tables dropped first (Citus
    distributes no table that refers to a local one), then put back."""
    before, after = [], []
    for table, (column, primary_key, user_keys) in DISTRIBUTED.items():
        if primary_key:
            before.append(
                f"ALTER TABLE {table} DROP CONSTRAINT {primary_key},"
                f" ADD CONSTRAINT {primary_key} PRIMARY KEY ({column}, id)"
            )
        for name, fk_column in user_keys.items():
            before.append(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
            after.append(_foreign_key(table, name, fk_column, "carts_user"))
    before.append(f"ALTER TABLE carts_cartitem DROP CONSTRAINT {PRODUCT_FOREIGN_KEY}")
    after.append(
        _foreign_key(
            "carts_cartitem", PRODUCT_FOREIGN_KEY, "product_id", "carts_product"
        )
    )
    distribute = [
        f"SELECT create_distributed_table('{table}', '{column}'"
        + ("" if table == "carts_cart" else ", colocate_with => 'carts_cart'")
        + ")"
        for table, (column, _, _) in DISTRIBUTED.items()
    ]
    reference = [f"SELECT create_reference_table('{table}')" for table in REFERENCE]
    local = [
        f"SELECT citus_add_local_table_to_metadata('{table}',"
        " cascade_via_foreign_keys => true)"
        for table in LOCAL
    ]
    return before + distribute + reference + local + after


_TABLES = ", ".join(
    f"'{t}'::regclass" for t in [*DISTRIBUTED, *REFERENCE, *LOCAL_TABLES]
)

# Citus sends an identity column's default to the node that stores the row,
# whose own sequence then repeats ids (a reference table's copies, every
# worker), and cannot undistribute a table with one. A plain sequence's
# nextval() it evaluates on the coordinator: one sequence per column, as
# before, under the same name (Django's pg_get_serial_sequence finds it).
IDENTITIES_TO_SEQUENCES = f"""
DO $$
DECLARE
  col record;
BEGIN
  FOR col IN
    SELECT a.attrelid::regclass AS tab, a.attname AS name,
      pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) AS seq
    FROM pg_attribute a
    WHERE a.attidentity <> '' AND a.attrelid = ANY(ARRAY[
      {_TABLES}])
  LOOP
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP IDENTITY', col.tab, col.name);
    EXECUTE format('CREATE SEQUENCE %s OWNED BY %s.%I', col.seq, col.tab, col.name);
    EXECUTE format('SELECT setval(%L, COALESCE(max(%I), 0) + 1, false) FROM %s',
                   col.seq, col.name, col.tab);
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT nextval(%L)',
                   col.tab, col.name, col.seq);
  END LOOP;
END
$$"""

SEQUENCES_TO_IDENTITIES = f"""
DO $$
DECLARE
  col record;
BEGIN
  FOR col IN
    SELECT a.attrelid::regclass AS tab, a.attname AS name,
      pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) AS seq
    FROM pg_attribute a
    WHERE a.attrelid = ANY(ARRAY[
      {_TABLES}])
      AND pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) IS NOT NULL
  LOOP
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT', col.tab, col.name);
    EXECUTE format('DROP SEQUENCE %s', col.seq);
    EXECUTE format(
      'ALTER TABLE %s ALTER COLUMN %I ADD GENERATED BY DEFAULT AS IDENTITY',
      col.tab, col.name);
    EXECUTE format('SELECT setval(%L, COALESCE(max(%I), 0) + 1, false) FROM %s',
                   col.seq, col.name, col.tab);
  END LOOP;
END
$$"""

CITUS = [
    # Distributing copies every row into the shards: no statement timeout.
    "SET LOCAL statement_timeout = 0",
    "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'",
    "SET LOCAL citus.enable_unsafe_triggers TO on",
    IDENTITIES_TO_SEQUENCES,
    "DROP TRIGGER carts_events_notify ON carts_cartevent",
    "DROP FUNCTION carts_events_notify()",
    """ALTER TABLE carts_webhookdelivery
      DROP CONSTRAINT carts_webhookdelivery_event_id_cascade""",
    # The token cache (0002, 0010) listens on the coordinator; a NOTIFY on
    # a worker's copy would also fail its two-phase commit.
    """CREATE OR REPLACE FUNCTION carts_notify_auth_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF citus_is_coordinator() THEN
    PERFORM pg_notify('carts_auth_changed', '');
  END IF;
  RETURN NULL;
END
$$""",
    # Citus puts a table's row triggers on its shards, not its statement
    # triggers: the same triggers per row (a transaction's notifications
    # on one channel are one). TRUNCATE, a statement event, notifies no
    # more (tests' flushes only).
    *(
        f"""DROP TRIGGER {trigger} ON {table};
CREATE TRIGGER {trigger} AFTER {events} ON {table}
  FOR EACH ROW EXECUTE FUNCTION carts_notify_auth_changed()"""
        for trigger, table, events in AUTH_TRIGGERS
    ),
    # The coordinator numbers its distributed transactions from 1 again
    # when it starts: numbers count from its start time in microseconds,
    # which has grown since the last start by more than that run numbered
    # (fewer than one transaction per microsecond).
    """CREATE FUNCTION carts_feed_epoch() RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint
$$""",
    """CREATE FUNCTION carts_feed_position() RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT carts_feed_epoch() + (get_current_transaction_id()).transaction_number
$$""",
    # The feed's settled horizon (carts.events.feed): every event below it
    # is committed or will never be. In a transaction that has touched a
    # Citus table (so it has a number of its own), before the read of the
    # events: its own number, or a lower one of a transaction begun at the
    # coordinator and still running (later ones take higher numbers).
    """CREATE FUNCTION carts_feed_settled() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  own bigint;
BEGIN
  PERFORM 1 FROM carts_product LIMIT 1;
  own := (get_current_transaction_id()).transaction_number;
  IF own = 0 THEN
    RAISE EXCEPTION 'carts_feed_settled() needs a transaction block';
  END IF;
  RETURN carts_feed_epoch() + (SELECT LEAST(own, min(transaction_number))
          FROM get_all_active_transactions()
          WHERE transaction_number > 0 AND process_id <> pg_backend_pid()
            AND NOT worker_query);
END
$$""",
    # LOCK_CART on Citus (carts.cart.sql, CITUS_LOCK_CART): the lock is taken
    # on the cart's worker; the cart it locked is noted there and on the
    # coordinator, since Citus evaluates current_setting() on either,
    # depending on the statement.
    """CREATE FUNCTION carts_lock_cart(user_pk bigint, username text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  locked text;
BEGIN
  -- One statement on the cart's worker (Citus routes it whole), then the
  -- same note on the coordinator.
  locked := (SELECT set_config('carts.locked_cart', COALESCE(
    (SELECT k.user_id::text FROM carts_cart k JOIN carts_user u ON u.id = k.user_id
     WHERE k.user_id = user_pk AND u.username = carts_lock_cart.username
     FOR UPDATE OF k),
    ''), true));
  RETURN set_config('carts.locked_cart', locked, true);
END
$$""",
    f"""CREATE OR REPLACE FUNCTION carts_product_note_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF citus_is_coordinator() THEN
    PERFORM set_config(
      '{CHANGED_PRODUCTS}',
      (COALESCE(NULLIF(current_setting('{CHANGED_PRODUCTS}', true), ''), '[]')::jsonb
       || to_jsonb(NEW.id))::text,
      true);
  END IF;
  RETURN NULL;
END
$$""",
    f"""CREATE OR REPLACE FUNCTION carts_products_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  noted jsonb := NULLIF(current_setting('{CHANGED_PRODUCTS}', true), '')::jsonb;
BEGIN
  IF noted IS NULL OR NOT citus_is_coordinator() THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('{CHANGED_PRODUCTS}', '', true);
  WITH held AS (
    SELECT user_id, jsonb_agg(product_id ORDER BY product_id) AS product_ids
    FROM carts_cartitem
    WHERE product_id IN (SELECT jsonb_array_elements_text(noted))
    GROUP BY user_id),
  bump AS (
    UPDATE carts_cart SET version = version + 1,
      event_position = GREATEST(event_position, carts_feed_position())
    WHERE user_id IN (SELECT user_id FROM carts_cartitem
                      WHERE product_id IN (SELECT jsonb_array_elements_text(noted)))
    RETURNING user_id, generation * 4294967296 + version AS version, event_position)
  INSERT INTO carts_cartevent
    (position, user_pk, username, type, cart_version, occurred_at, data)
  SELECT b.event_position, b.user_id, u.username,
    'cart.catalog_changed', b.version, now(),
    jsonb_build_object('product_ids', held.product_ids)
  FROM bump b JOIN carts_user u ON u.id = b.user_id
  JOIN held ON held.user_id = b.user_id;
  RETURN NULL;
END
$$""",
    *_distribute(),
]


def on_citus(apps, schema_editor) -> None:
    if citus_installed(schema_editor.connection):
        for statement in CITUS:
            schema_editor.execute(statement, params=None)


# Back to one PostgreSQL: the tables undistributed (their data copied back
# to the coordinator), then what 0016 changed put back as 0002 to 0015 made it.
CITUS_BACKWARD = [
    "SET LOCAL statement_timeout = 0",
    "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'",
    # Connected by foreign keys: every table but the outbox and the webhooks'.
    "SELECT undistribute_table('carts_cart', cascade_via_foreign_keys => true)",
    "SELECT undistribute_table('carts_cartevent')",
    "SELECT undistribute_table('carts_webhookendpoint',"
    " cascade_via_foreign_keys => true)",
    "DROP FUNCTION carts_feed_position(), carts_feed_settled(), carts_feed_epoch(),"
    " carts_lock_cart(bigint, text)",
    *(f"DROP TRIGGER {trigger} ON {table}" for trigger, table, _ in AUTH_TRIGGERS),
    "DROP FUNCTION carts_notify_auth_changed()",
    # Local tables from here on: nothing for Citus to send to the workers.
    "SET LOCAL citus.enable_ddl_propagation TO off",
    auth_notify.FORWARD,
    permission_notify.FORWARD,
    catalog_lock.POSTGRESQL_BACKWARD + catalog_lock.POSTGRESQL,
    catalog_events.POSTGRESQL,
    every_commit.POSTGRESQL
    + "DROP TABLE carts_feed_waiter;"
    + notify_waiters.POSTGRESQL,
    *(
        f"ALTER TABLE {table} DROP CONSTRAINT {primary_key},"
        f" ADD CONSTRAINT {primary_key} PRIMARY KEY (id)"
        for table, (_, primary_key, _) in DISTRIBUTED.items()
        if primary_key
    ),
    """ALTER TABLE carts_webhookdelivery
      ADD CONSTRAINT carts_webhookdelivery_event_id_cascade
      FOREIGN KEY (event_id) REFERENCES carts_cartevent (id)
      ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED""",
    SEQUENCES_TO_IDENTITIES,
]


def back_on_citus(apps, schema_editor) -> None:
    if citus_installed(schema_editor.connection):
        for statement in CITUS_BACKWARD:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("carts", "0015_events_notify_only_waiters"),
    ]

    operations = [
        migrations.RunPython(on_citus, back_on_citus),
    ]
