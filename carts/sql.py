"""The cart's SQL statements, parameterised, for PostgreSQL and SQLite (3.35+).

Plain strings with no Django import, so that the benchmark's floor
(bench/floor.py) runs exactly the text the service runs.

Every write to a cart is three steps: lock the cart's row (carts_cart), make
the change, and bump the cart's version if the change touched a line. On
PostgreSQL the three go to the server as ONE query string, hence in one round
trip and, as the statements of one simple query, in one transaction
(`*_SQL` below). The lock comes in a statement of its own because, in READ
COMMITTED, each statement reads a snapshot taken when it starts: the change
then counts the cart's lines after the lock is held, which makes the line
limit exact when many requests add new lines to one cart at once. The version
bump is a data-modifying CTE fed by the change's RETURNING, so it happens only
when a line was written. SQLite, which has neither FOR UPDATE nor writes in
CTEs (and lets one writer in at a time anyway), runs `*_LINE` and
`BUMP_VERSION` as separate statements (carts.services).

A write sent with If-Match (API.md, "Versions and conditional requests")
names the versions it expects: `%(if_match)s`, an array, NULL for none. On
PostgreSQL the change's own WHERE checks it, after the lock, so nothing can
change the cart between the check and the write; SQLite checks it in Python
inside the write's transaction.
"""

# The cart's row, locked until the end of the transaction, and its id noted
# in a transaction-local setting; nothing when the user or their cart row does
# not exist yet.
LOCK_CART = """
    SELECT set_config('carts.locked_cart', user_id::text, true) FROM carts_cart
    WHERE user_id = (SELECT id FROM carts_user WHERE username = %(username)s)
    FOR UPDATE
"""

# PostgreSQL's changes touch only the cart LOCK_CART locked: a cart created
# (and its lines written) by another request between the two statements is
# left alone, since touching its lines before its row would lock them in the
# opposite order to every other writer (a deadlock) and count its lines
# unlocked. The write is then refused, and the service writes again in a
# transaction of its own. {owner}: the changed rows' cart id.
_LOCKED = """
    AND {owner} = NULLIF(current_setting('carts.locked_cart', true), '')::bigint
"""

# The cart's version, as If-Match names it: {version}, the cart's version
# (0 when the cart has no row yet); true when the request names none.
_IF_MATCH = """
    AND (%(if_match)s::bigint[] IS NULL
         OR COALESCE({version}, 0) = ANY(%(if_match)s::bigint[]))
"""


def _candidate_line(if_match: str) -> str:
    """The row to insert exists only if the user's cart exists and is not a
    merged guest's, the product exists and is active, and the line either
    exists already or still fits under the line limit."""
    return f"""
    SELECT k.user_id, p.id, %(quantity)s, %(now)s, %(now)s
    FROM carts_user u JOIN carts_cart k ON k.user_id = u.id, carts_product p
    WHERE u.username = %(username)s AND k.merged_at IS NULL
      AND p.id = %(product_id)s AND p.active
      AND (
        EXISTS (SELECT 1 FROM carts_cartitem c
                WHERE c.user_id = k.user_id AND c.product_id = p.id)
        OR (SELECT COUNT(*) FROM carts_cartitem c WHERE c.user_id = k.user_id)
           < %(max_lines)s
      )
      {if_match}
    """


# user_id first: BUMP_VERSION reads it; the rest is the line as answered.
_RETURNING_LINE = """
    RETURNING user_id, quantity, created_at = updated_at,
      (SELECT name FROM carts_product WHERE carts_product.id = product_id),
      (SELECT price FROM carts_product WHERE carts_product.id = product_id)
"""


def _add_line(if_match: str = "") -> str:
    return f"""
    INSERT INTO carts_cartitem (user_id, product_id, quantity, created_at, updated_at)
    {_candidate_line(if_match)}
    ON CONFLICT (user_id, product_id) DO UPDATE
      SET quantity = carts_cartitem.quantity + excluded.quantity,
          updated_at = excluded.updated_at
      WHERE carts_cartitem.quantity + excluded.quantity <= %(max_quantity)s
    {_RETURNING_LINE}
    """


def _set_line(if_match: str = "") -> str:
    return f"""
    INSERT INTO carts_cartitem (user_id, product_id, quantity, created_at, updated_at)
    {_candidate_line(if_match)}
    ON CONFLICT (user_id, product_id) DO UPDATE
      SET quantity = excluded.quantity, updated_at = excluded.updated_at
    {_RETURNING_LINE}
    """


# The version of the cart a DELETE of lines touches.
_LINES_CART_VERSION = """(SELECT version FROM carts_cart
     WHERE carts_cart.user_id = carts_cartitem.user_id)"""


def _remove_line(if_match: str = "") -> str:
    return f"""
    DELETE FROM carts_cartitem
    WHERE product_id = %(product_id)s
      AND user_id = (SELECT id FROM carts_user WHERE username = %(username)s)
      {if_match}
    RETURNING user_id
    """


def _clear_lines(if_match: str = "") -> str:
    return f"""
    DELETE FROM carts_cartitem
    WHERE user_id = (SELECT id FROM carts_user WHERE username = %(username)s)
      {if_match}
    RETURNING user_id
    """


# SQLite's statements: the precondition is checked before them.
ADD_LINE = _add_line()
SET_LINE = _set_line()
REMOVE_LINE = _remove_line()
CLEAR_LINES = _clear_lines()

# {owner}: the cart's user id (SQLite: a parameter; PostgreSQL: the change's).
BUMP_VERSION = """
    UPDATE carts_cart SET version = version + 1, updated_at = %(now)s
    WHERE user_id = {owner}
    RETURNING version
"""

# The cart's version; no row for an unknown user, 0 for a user with no cart
# row yet. The whole question of a GET with If-None-Match that matches.
CART_VERSION_SQL = """
    SELECT COALESCE(k.version, 0)
    FROM carts_user u LEFT JOIN carts_cart k ON k.user_id = u.id
    WHERE u.username = %(username)s
"""


def _one_round_trip(change: str) -> str:
    """Lock, change, bump: one row, always: the cart's version after the
    statement (bumped if a line was written, else as it was, 0 with no cart
    row), then the change's first row, all NULL when it changed nothing.
    Lines are written only into the cart the lock took (migration carts 0004
    gave every user with lines a cart row)."""
    bump = BUMP_VERSION.format(owner="(SELECT user_id FROM change LIMIT 1)")
    return f"""{LOCK_CART};
    WITH change AS ({change}), bump AS ({bump})
    SELECT
      COALESCE(
        bump.version,
        (SELECT k.version FROM carts_cart k JOIN carts_user u ON u.id = k.user_id
         WHERE u.username = %(username)s),
        0),
      first.*
    FROM (SELECT 1) AS one
    LEFT JOIN (SELECT * FROM change LIMIT 1) AS first ON true
    LEFT JOIN bump ON true
    """


_LINE_GUARD = _LOCKED.format(owner="k.user_id") + _IF_MATCH.format(version="k.version")
_LINES_GUARD = _LOCKED.format(owner="user_id") + _IF_MATCH.format(
    version=_LINES_CART_VERSION
)
ADD_SQL = _one_round_trip(_add_line(_LINE_GUARD))
SET_SQL = _one_round_trip(_set_line(_LINE_GUARD))
REMOVE_SQL = _one_round_trip(_remove_line(_LINES_GUARD))
CLEAR_SQL = _one_round_trip(_clear_lines(_LINES_GUARD))


# Claim an Idempotency-Key for this request: insert the caller's record, or
# take over one older than the TTL. A row when claimed; none when a live
# record holds the key (then read it). A duplicate whose first is still
# running waits here on the unique index until that one commits (then: a live
# record to replay) or rolls back (then: claimed), at most the connection's
# lock_timeout (DATABASE_LOCK_TIMEOUT). The ORM cannot say "insert, or update
# only if expired". (SQLite wants a WHERE before ON CONFLICT in INSERT SELECT.)
IDEMPOTENCY_CLAIM = """
    INSERT INTO carts_idempotencyrecord
      (caller_id, key, request_hash, status, body, etag, created_at)
    SELECT %(caller)s, %(key)s, %(request_hash)s, NULL, '', '', %(now)s WHERE true
    ON CONFLICT (caller_id, key) DO UPDATE
      SET request_hash = excluded.request_hash, status = NULL, body = '',
          etag = '', created_at = excluded.created_at
      WHERE carts_idempotencyrecord.created_at < %(expired_before)s
    RETURNING 1
"""


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

# A cart in one query: the user LEFT JOIN its cart and lines, so that an
# unknown user (no row) differs from an empty cart (one row of NULLs); lines
# in add order; the version on every row (0 for a user with no cart row yet).
CART_SQL = """
    SELECT c.product_id, p.name, c.quantity, p.price, COALESCE(k.version, 0)
    FROM carts_user u
    LEFT JOIN carts_cart k ON k.user_id = u.id
    LEFT JOIN carts_cartitem c ON c.user_id = u.id
    LEFT JOIN carts_product p ON p.id = c.product_id
    WHERE u.username = %(username)s
    ORDER BY c.created_at, c.id
"""

# The user a token belongs to (carts.auth.authentication fills in the columns).
TOKEN_USER_SQL = """
    SELECT {columns} FROM authtoken_token t JOIN carts_user u ON u.id = t.user_id
    WHERE t.key = %(key)s
"""
