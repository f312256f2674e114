"""The cart tables' SQL statements, parameterised, for PostgreSQL and SQLite
(3.35+). Nothing outside carts/cart/ names carts_cart or carts_cartitem in SQL
(tests/test_layout.py holds it so).

Plain strings with no Django import, so that the benchmark's floor
(bench/floor.py) runs exactly the text the service runs. `%(username)s` is the
API's user id: the column it is stored in. `%(user_pk)s` is that user's pk
when the caller knows it (carts.cart.owners remembers it), else NULL: the
statements find a cart by the pk (_OWNER), the column every cart table is
keyed by, so that a sharded database routes each statement to one shard
(docs/scaling.md), and act only where the pk's user still has that user id,
so a remembered pk that went stale (a renamed user, a purged guest whose id
came back) finds nothing instead of another cart.

Every write to a cart is three steps (carts/cart/aggregate.py): lock the cart's
row (carts_cart), make the change, and record it (`bump`, the version bump,
and append_event, its event in the outbox) if the change touched an item. On
PostgreSQL the three go to the server as ONE query string, hence in one round
trip and, as the statements of one simple query, in one transaction
(`*_SQL` below). The lock comes in a statement of its own because, in READ
COMMITTED, each statement reads a snapshot taken when it starts: the change
then counts the cart's items after the lock is held, which makes the item
limit exact when many requests add new items to one cart at once. The version
bump and the event are data-modifying CTEs fed by the change's RETURNING, so
they happen only when an item was written. SQLite, which has neither FOR
UPDATE nor writes in CTEs (and lets one writer in at a time anyway), runs
`*_ITEM` and `record_change` as separate statements (carts.cart.aggregate).

A Citus cluster (carts.database.citus, docs/scaling.md) runs them as SQLite
does, after CITUS_LOCK_CART, each statement routed whole to the cart's
worker: Citus plans a data-modifying CTE holding an INSERT ... SELECT as
several sub-plans joined on the coordinator, and refuses some of the
one-round-trip statements' subqueries there. `*_ITEM` join where the
one-round-trip statements have subqueries, so that each is one task on one
worker; the feed position is Citus's distributed transaction number
(_EVENT_POSITION).

A cart held for checkout (carts_checkout, carts.cart.checkout) changes in no
way until the hold ends or expires: every change's WHERE says so (_NOT_HELD),
and the one-round-trip answer says whether a live hold refused it, so a
refusal costs no query to explain.

A write sent with If-Match (API.md, "Versions and conditional requests")
names the versions it expects: `%(if_match)s`, an array, NULL for none. On
PostgreSQL the change's own WHERE checks it, after the lock, so nothing can
change the cart between the check and the write; SQLite checks it in Python
inside the write's transaction.
"""


def _sent(statement: str) -> str:
    """A hot statement as it is sent: its words separated by single spaces
    (no SQL here has a comment or a literal whose spacing matters). psycopg2
    fills in the parameters by scanning the whole text on every execution,
    some 30 instructions a character: an add with its owner's creation went
    from 4,530 characters to 3,881 (bench/README.md, "Counting
    instructions")."""
    return " ".join(statement.split())


# The user's pk: the caller's, else found by the user id. PostgreSQL folds a
# known pk to a constant (COALESCE stops at its first non-null constant), so
# the plan then has no lookup, and a sharded database sees the shard key.
_OWNER = """COALESCE(%(user_pk)s,
      (SELECT id FROM carts_user WHERE username = %(username)s))"""

# The cart's row, locked until the end of the transaction, and its id noted
# in a transaction-local setting; none noted (not an earlier write's of the
# same transaction) when the pk's user is not `username` or has no cart row.
LOCK_CART = f"""
    SELECT set_config('carts.locked_cart', COALESCE(
      (SELECT k.user_id::text FROM carts_cart k JOIN carts_user u ON u.id = k.user_id
       WHERE k.user_id = {_OWNER} AND u.username = %(username)s
       FOR UPDATE OF k),
      ''), true)
"""

# LOCK_CART on Citus: the same lock and note, by a function (migration carts
# 0016) that notes the locked cart on the cart's worker and on the
# coordinator, which each evaluate current_setting() for some statements.
CITUS_LOCK_CART = "SELECT carts_lock_cart(%(user_pk)s::bigint, %(username)s)"

# PostgreSQL's changes touch only the cart LOCK_CART locked: a cart created
# (and its items written) by another request between the two statements is
# left alone, since touching its items before its row would lock them in the
# opposite order to every other writer (a deadlock) and count its items
# unlocked. The write is then refused, and the service writes again in a
# transaction of its own. {owner}: the changed rows' cart id.
_LOCKED_CART = "NULLIF(current_setting('carts.locked_cart', true), '')::bigint"
_LOCKED = f"""
    AND {{owner}} = {_LOCKED_CART}
"""


def shown_version(cart: str) -> str:
    """The version of the cart row `cart` as its ETag names it: the cart's
    change counter, made unique across the carts one user id has had (a
    purged guest's id used again): the row's generation, a random number
    drawn when the row is created (0 for rows older than it), in the high 32
    bits. 0 for a cart never changed, as for no cart row: empty is empty,
    whichever cart. NULL columns (no row) read as 0."""
    return f"""(CASE WHEN COALESCE({cart}.version, 0) = 0 THEN 0
      ELSE {cart}.generation * 4294967296 + {cart}.version END)"""


# No live checkout hold on the cart {owner}: a hold past its expires_at counts
# as released, so no process has to end it.
_NOT_HELD = """
    AND NOT EXISTS (SELECT 1 FROM carts_checkout h
                    WHERE h.user_id = {owner} AND h.state = 'held'
                      AND h.expires_at > %(now)s)
"""

# Whether the cart of the user `%(user_pk)s` (known) has a live hold:
# SQLite's check before a write.
HELD_SQL = """
    SELECT EXISTS (SELECT 1 FROM carts_checkout h
                   WHERE h.user_id = %(user_pk)s AND h.state = 'held'
                     AND h.expires_at > %(now)s)
"""
# The same of the cart LOCK_CART locked (none: false), with no lookup of the
# user: the one-round-trip statements' explanation of a refused write.
# PostgreSQL plans those statements on every call, and each subquery adds to
# the plan's cost.
_LOCKED_HELD = f"""
    EXISTS (SELECT 1 FROM carts_checkout h
            WHERE h.user_id = {_LOCKED_CART}
              AND h.state = 'held' AND h.expires_at > %(now)s)
"""


# The cart's version as If-Match names it: {version}, the shown version;
# true when the request names none.
_IF_MATCH = """
    AND (%(if_match)s::bigint[] IS NULL
         OR {version} = ANY(%(if_match)s::bigint[]))
"""


def _candidate_item(if_match: str) -> str:
    """The row to insert exists only if the user's cart exists and is not a
    merged guest's, the product exists and is active, and the item either
    exists already or still fits under the item limit. (PostgreSQL's guard
    admits only the cart LOCK_CART locked, whose user it checked; SQLite's
    writer checks it first.)"""
    return f"""
    SELECT k.user_id, p.id, %(quantity)s, p.price, %(now)s, %(now)s
    FROM carts_cart k, carts_product p
    WHERE k.user_id = {_OWNER} AND k.merged_at IS NULL
      AND p.id = %(product_id)s AND p.active
      AND (
        EXISTS (SELECT 1 FROM carts_cartitem c
                WHERE c.user_id = k.user_id AND c.product_id = p.id)
        OR (SELECT COUNT(*) FROM carts_cartitem c WHERE c.user_id = k.user_id)
           < %(max_lines)s
      )
      {if_match}
    """


# user_id first: the bump reads it; the rest is the item as answered.
_RETURNING_ITEM = """
    RETURNING user_id, quantity, created_at = updated_at,
      (SELECT name FROM carts_product WHERE carts_product.id = product_id),
      (SELECT price FROM carts_product WHERE carts_product.id = product_id),
      COALESCE(added_unit_price,
        (SELECT price FROM carts_product WHERE carts_product.id = product_id))
"""

# An item's price as added is set when the row is inserted; ON CONFLICT
# leaves it as it was (an add into it, a PUT).
_INSERT_ITEM = """
    INSERT INTO carts_cartitem
      (user_id, product_id, quantity, added_unit_price, created_at, updated_at)
"""


# The same conditions as _candidate_item's, with joins for its subqueries:
# SQLite's and Citus's (the precondition is checked before). Citus runs an
# INSERT ... SELECT whose subqueries read the cart's items on every shard
# (or refuses it); joined on the cart's pk it is one task on one worker.
_JOINED_CANDIDATE_ITEM = """
    SELECT k.user_id, p.id, %(quantity)s, p.price, %(now)s, %(now)s
    FROM carts_cart k
    JOIN carts_product p ON p.id = %(product_id)s AND p.active
    LEFT JOIN carts_cartitem c ON c.user_id = k.user_id AND c.product_id = p.id
    LEFT JOIN (SELECT user_id, COUNT(*) AS items FROM carts_cartitem
               WHERE user_id = %(user_pk)s GROUP BY user_id) n
      ON n.user_id = k.user_id
    WHERE k.user_id = %(user_pk)s AND k.merged_at IS NULL
      AND (c.user_id IS NOT NULL OR COALESCE(n.items, 0) < %(max_lines)s)
"""


def _add_item(candidate: str, returning: str = _RETURNING_ITEM) -> str:
    return f"""
    {_INSERT_ITEM}
    {candidate}
    ON CONFLICT (user_id, product_id) DO UPDATE
      SET quantity = carts_cartitem.quantity + excluded.quantity,
          updated_at = excluded.updated_at
      WHERE carts_cartitem.quantity + excluded.quantity <= %(max_quantity)s
    {returning}
    """


def _set_item(candidate: str, returning: str = _RETURNING_ITEM) -> str:
    return f"""
    {_INSERT_ITEM}
    {candidate}
    ON CONFLICT (user_id, product_id) DO UPDATE
      SET quantity = excluded.quantity, updated_at = excluded.updated_at
    {returning}
    """


# The shown version of the cart a DELETE of items touches.
_ITEMS_CART_VERSION = f"""(SELECT {shown_version("carts_cart")} FROM carts_cart
     WHERE carts_cart.user_id = carts_cartitem.user_id)"""


def _remove_item(if_match: str = "") -> str:
    return f"""
    DELETE FROM carts_cartitem
    WHERE product_id = %(product_id)s AND user_id = {_OWNER}
      {if_match}
    RETURNING user_id
    """


def _clear_items(if_match: str = "") -> str:
    return f"""
    DELETE FROM carts_cartitem
    WHERE user_id = {_OWNER}
      {if_match}
    RETURNING user_id, product_id
    """


# SQLite's and Citus's statements: the precondition is checked before them.
ADD_ITEM = _add_item(_JOINED_CANDIDATE_ITEM)
SET_ITEM = _set_item(_JOINED_CANDIDATE_ITEM)
# Citus's own: it evaluates the item id's nextval() on the coordinator, so
# it runs the INSERT ... SELECT as the SELECT on the cart's worker, then the
# INSERT of its rows there, and in that INSERT it cannot read the catalog
# in RETURNING: the product's name and price come from CITUS_PRODUCT_SQL
# (the catalog is a reference table: the coordinator holds a copy).
_RETURNING_ITEM_ROW = """
    RETURNING user_id, quantity, created_at = updated_at, added_unit_price
"""
CITUS_ADD_ITEM = _add_item(_JOINED_CANDIDATE_ITEM, _RETURNING_ITEM_ROW)
CITUS_SET_ITEM = _set_item(_JOINED_CANDIDATE_ITEM, _RETURNING_ITEM_ROW)
CITUS_PRODUCT_SQL = "SELECT name, price FROM carts_product WHERE id = %(product_id)s"
REMOVE_ITEM = _remove_item()
CLEAR_ITEMS = _clear_items()


# What every change of a cart records, in the change's transaction, two
# statements every writer runs (the one-round-trip writes in their CTE list,
# the others through carts.cart.aggregate.carts_record_change):
# 1. bump: a new version (what its ETag names), the time of its last change
#    (what expiry reads) and its event's feed position. {owners}: which
#    carts, "= <expression>" or "IN (<ids>)".
# 2. append_event: one event per changed cart in the outbox (carts_cartevent,
#    carts.models.CartEvent) with the version the change produced, so that a
#    committed change always has its event and a rolled-back one none.
def bump(vendor: str) -> str:
    return f"""
    UPDATE carts_cart SET version = version + 1, updated_at = %(now)s,
      event_position = {_EVENT_POSITION[vendor]}
    WHERE user_id {{owners}}
    RETURNING user_id, {shown_version("carts_cart")} AS version, event_position
"""


# The feed's position of a change's event (carts.events.feed): the writing
# transaction's id, or the cart's previous event's position if that is
# higher, which happens when this transaction began (took its id) before
# the previous change of the cart committed: a cart's events never go
# backwards in the feed. SQLite's writers commit one at a time, in the order
# of the events' ids: 0.
# On Citus a transaction id is a node's own; the distributed transaction
# number (carts_feed_position(), migration carts 0016) is the coordinator's,
# one order for every node.
_EVENT_POSITION = {
    "postgresql": "GREATEST(event_position, pg_current_xact_id()::text::bigint)",
    "citus": "GREATEST(event_position, carts_feed_position())",
    "sqlite": "event_position",
}


def append_event(vendor: str, *, bumped: str, event: str, data: str) -> str:
    """The outbox's INSERT for the carts `bumped` names: a table expression of
    (user_id, version, event_position) after the bump, the CTE `bump` or a
    read of the carts. `event`, `data`: SQL expressions of the event's type
    and JSON data. The user id comes from carts_user, not from the request's
    parameter: a parameter longer than the column would fail the statement,
    even when it writes no row."""
    return f"""
    INSERT INTO carts_cartevent
      (position, user_pk, username, type, cart_version, occurred_at, data)
    SELECT b.event_position, b.user_id, u.username, {event}, b.version,
      %(now)s, {data}
    FROM {bumped} b JOIN carts_user u ON u.id = b.user_id
    """


def record_change(vendor: str, owners: str) -> list[str]:
    """The statements that record a change of the carts `owners` names, for
    a writer outside the one-round-trip writes: the event's type and data
    are the parameters %(event)s and %(data)s (JSON text)."""
    bumped = f"""(SELECT user_id, {shown_version("carts_cart")} AS version,
                   event_position
                 FROM carts_cart WHERE user_id {owners})"""
    data = "%(data)s" if vendor == "sqlite" else "%(data)s::jsonb"
    return [
        bump(vendor).format(owners=owners),
        append_event(vendor, bumped=bumped, event="%(event)s", data=data),
    ]


def record_deletion(vendor: str, owners: str) -> str:
    """The event of a change that deletes the carts `owners` names (a purged
    guest's): what record_change records, with the version and feed position
    its bump would give, but without updating rows about to be deleted
    (half the purge's time went to that UPDATE: bench/README.md, "Scale").
    version + 1 is never 0, so the shown version is never the empty cart's."""
    bumped = f"""(SELECT user_id,
                   generation * 4294967296 + version + 1 AS version,
                   {_EVENT_POSITION[vendor]} AS event_position
                 FROM carts_cart WHERE user_id {owners})"""
    data = "%(data)s" if vendor == "sqlite" else "%(data)s::jsonb"
    return append_event(vendor, bumped=bumped, event="%(event)s", data=data)


# A list of owner pks as one parameter, %(owners)s: an array on PostgreSQL,
# JSON text on SQLite; `user_id {owners}` tests a column against it.
OWNERS_PARAM = {
    "postgresql": "= ANY(%(owners)s)",
    "sqlite": "IN (SELECT value FROM json_each(%(owners)s))",
}


# The cart's shown version, then the user's pk; no row for an unknown user
# (or a pk that is not the user's), version 0 for a user with no cart row
# yet. The whole question of a GET with If-None-Match that matches.
CART_VERSION_SQL = f"""
    SELECT {shown_version("k")}, u.id
    FROM carts_user u LEFT JOIN carts_cart k ON k.user_id = u.id
    WHERE u.id = {_OWNER} AND u.username = %(username)s
"""


# Before the first write to a user id whose pk the caller does not know, by a
# caller that may create users (staff, gRPC: every Online Boutique session's
# first AddItem): its user, created if missing (`%(password)s` unusable,
# `%(is_guest)s`), then its cart row (`%(generation)s`,
# carts.models.new_generation) if missing, in the write's round trip on
# PostgreSQL (carts.cart.aggregate.one_write). Both created only when the
# product is sold, when the write can succeed on an empty cart; sent only
# when it may (If-Match accepts version 0: carts.cart.owners.owner_creation).
# A user or cart created meanwhile wins (DO NOTHING); an existing user costs
# no id of the sequence.
_SOLD = "EXISTS (SELECT 1 FROM carts_product WHERE id = %(product_id)s AND active)"
OWNER_ENSURE = [
    _sent(f"""
    INSERT INTO carts_user (password, is_superuser, username, first_name,
      last_name, email, is_staff, is_active, date_joined, is_guest)
    SELECT %(password)s, false, %(username)s, '', '', '', false, true,
      %(now)s, %(is_guest)s
    WHERE {_SOLD}
      AND NOT EXISTS (SELECT 1 FROM carts_user WHERE username = %(username)s)
    ON CONFLICT (username) DO NOTHING
    """),
    _sent(f"""
    INSERT INTO carts_cart (user_id, version, updated_at, generation)
    SELECT u.id, 0, %(now)s, %(generation)s
    FROM carts_user u
    WHERE u.username = %(username)s AND {_SOLD}
    ON CONFLICT (user_id) DO NOTHING
    """),
]


# The user's pk by its id: where a caller must know it before the
# statements (Citus routes a statement by the pk it is given).
OWNER_PK_SQL = "SELECT id FROM carts_user WHERE username = %(username)s"


def _one_round_trip(change: str, *, event: str, data: str) -> str:
    """Lock, change, record: one row, always: the cart's shown version after
    the statement (bumped if an item was written, else as it was, 0 when
    LOCK_CART locked no cart), the pk of the cart LOCK_CART locked (NULL:
    none), whether a live checkout hold refused the change, then the change's first
    row, all NULL when it changed nothing. `event`: the type of the event
    recorded; `data`: its JSON data, an expression that may read the
    change's rows (`change`).
    Lines are written only into the cart the lock took (migration carts 0004
    gave every user with items a cart row)."""
    bump_cart = bump("postgresql").format(
        owners=f"= {_OWNER} AND EXISTS (SELECT 1 FROM change)"
    )
    append = append_event("postgresql", bumped="bump", event=f"'{event}'", data=data)
    return _sent(f"""{LOCK_CART};
    WITH change AS ({change}), bump AS ({bump_cart}), event AS ({append})
    SELECT
      COALESCE(
        bump.version,
        (SELECT {shown_version("k")} FROM carts_cart k
         WHERE k.user_id = {_LOCKED_CART}),
        0),
      {_LOCKED_CART},
      CASE WHEN first.user_id IS NULL THEN {_LOCKED_HELD} ELSE false END,
      first.*
    FROM (SELECT 1) AS one
    LEFT JOIN (SELECT * FROM change LIMIT 1) AS first ON true
    LEFT JOIN bump ON true
    """)


_ITEM_GUARD = (
    _LOCKED.format(owner="k.user_id")
    + _NOT_HELD.format(owner="k.user_id")
    + _IF_MATCH.format(version=shown_version("k"))
)
_ITEMS_GUARD = (
    _LOCKED.format(owner="user_id")
    + _NOT_HELD.format(owner="carts_cartitem.user_id")
    + _IF_MATCH.format(version=_ITEMS_CART_VERSION)
)
# The events these writes record (API.md, "Events"); carts.cart.items builds
# the same data on SQLite from the change's rows.
ITEM_ADDED = "cart.item_added"
ITEM_UPDATED = "cart.item_updated"
ITEM_REMOVED = "cart.item_removed"
CLEARED = "cart.cleared"
_PRODUCT = "'product_id', %(product_id)s::text"
# PostgreSQL's statements: lock, change, record, in one round trip.
ADD_SQL = _one_round_trip(
    _add_item(_candidate_item(_ITEM_GUARD)),
    event=ITEM_ADDED,
    data=f"""jsonb_build_object({_PRODUCT}, 'quantity_added', %(quantity)s::integer,
      'quantity', (SELECT quantity FROM change LIMIT 1))""",
)
SET_SQL = _one_round_trip(
    _set_item(_candidate_item(_ITEM_GUARD)),
    event=ITEM_UPDATED,
    data=f"jsonb_build_object({_PRODUCT}, 'quantity', %(quantity)s::integer)",
)
REMOVE_SQL = _one_round_trip(
    _remove_item(_ITEMS_GUARD),
    event=ITEM_REMOVED,
    data=f"jsonb_build_object({_PRODUCT})",
)
CLEAR_SQL = _one_round_trip(
    _clear_items(_ITEMS_GUARD),
    event=CLEARED,
    data="""jsonb_build_object('product_ids',
      (SELECT jsonb_agg(product_id ORDER BY product_id) FROM change))""",
)


# Only on a refused write: one more query to say precisely what was wrong.
DIAGNOSE_SQL = """
    SELECT
      EXISTS (SELECT 1 FROM carts_user WHERE username = %(username)s),
      EXISTS (SELECT 1 FROM carts_cart k JOIN carts_user u ON u.id = k.user_id
              WHERE u.username = %(username)s),
      EXISTS (SELECT 1 FROM carts_cart k JOIN carts_user u ON u.id = k.user_id
              WHERE u.username = %(username)s AND k.merged_at IS NOT NULL),
      EXISTS (SELECT 1 FROM carts_product
              WHERE id = %(product_id)s AND active),
      (SELECT c.quantity FROM carts_cartitem c
       JOIN carts_user u ON u.id = c.user_id
       WHERE u.username = %(username)s AND c.product_id = %(product_id)s),
      (SELECT COUNT(*) FROM carts_cartitem c
       JOIN carts_user u ON u.id = c.user_id
       WHERE u.username = %(username)s)
"""

# A cart in one query: the user LEFT JOIN its cart and items, so that an
# unknown user (no row, as for a pk that is not the user's) differs from an
# empty cart (one row of NULLs); items in add order; on every row the held
# checkout (at most one: a unique index; NULLs if none), the shown version
# (0 for a user with no cart row yet) and the user's pk. A read is the
# service's most frequent request, and these columns cost the client on every
# row: the price as added comes only where it differs from the current one
# (NULL: the same, or a line older than the column), the hold's id as text
# (psycopg2 makes a UUID of a uuid column by a Python function on every row,
# NULL or not), and the hold's expiry is the reader's to compare
# (carts.cart.reads), not a parameter to fill.
CART_SQL = _sent(f"""
    SELECT c.product_id, p.name, c.quantity, p.price,
      NULLIF(c.added_unit_price, p.price), p.active,
      CAST(h.id AS text), h.expires_at, {shown_version("k")}, u.id
    FROM carts_user u
    LEFT JOIN carts_cart k ON k.user_id = u.id
    LEFT JOIN carts_cartitem c ON c.user_id = u.id
    LEFT JOIN carts_product p ON p.id = c.product_id
    LEFT JOIN carts_checkout h ON h.user_id = u.id AND h.state = 'held'
    WHERE u.id = {_OWNER} AND u.username = %(username)s
    ORDER BY c.created_at, c.id
""")
