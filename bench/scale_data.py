"""The scale benchmark's data, loaded in bulk by set-based SQL (never through
the API), and the check that it has the shape bench/SCALE.md states.

Plain DB-API: every function takes a cursor (psycopg2's, or Django's in the
suite, tests/test_bench_scale.py) and imports nothing of the bench's, so the
suite can load a small size with the very statements `make bench-scale` runs.

The shape: users `user00001`… (the names bench/wrk/common.lua draws), three
in five of them guests (`is_guest`), each with a token (a guest gets one from
POST /guests, a shopper at login), a cart row and LINES lines, written as the
service would have written them: the cart at version LINES (one bump per add),
a generation drawn as carts.models.new_generation draws it, each line priced
as added. Stale guests (`stale0000001`…) are the same, last changed long ago.
"""

PRODUCTS = [f"scale-{number:03d}" for number in range(1, 101)]
LINES = 3
STAFF = "scale-staff"
GUEST_SHARE = 3 / 5
# Well past CART_GUEST_TTL's 30 days: purge_carts takes every stale guest.
STALE_AGE = "60 days"

# The names of users `first`..`last` as wrk's string.format("user%05d", n)
# spells them: at least five digits, more when the number needs them.
_NAME = "%(prefix)s || lpad(i::text, greatest(5, length(i::text)), '0')"
_NUMBERS = "generate_series(%(first)s, %(last)s) i"

# Lines of the carts of `owners` (a relation with their ids): product
# (spread x id + k) mod 100 for k < lines, so a cart never holds a product
# twice; spread 0 gives every cart the same first products.
_LINES = """
    INSERT INTO carts_cartitem (user_id, product_id, quantity, added_unit_price,
      created_at, updated_at)
    SELECT o.id, p.id, 1 + k %% 3, p.price,
      %(changed)s + k * interval '1 millisecond',
      %(changed)s + k * interval '1 millisecond'
    FROM {owners} o, generate_series(0, %(lines)s - 1) k, carts_product p
    WHERE p.id = (%(products)s::text[])[1 + (%(spread)s * o.id + k) %% 100]
"""

# One statement: the users, their tokens, carts and lines (each foreign key
# is checked at its end, when every row is there).
_CARTS = f"""
    WITH owners AS (
      INSERT INTO carts_user (password, is_superuser, username, first_name,
        last_name, email, is_staff, is_active, date_joined, is_guest)
      SELECT '!', false, {_NAME}, '', '', '', false, true, now(),
        i %% 5 < %(guests_in_five)s
      FROM {_NUMBERS}
      RETURNING id, username
    ), tokens AS (
      INSERT INTO authtoken_token (key, user_id, created)
      SELECT md5(username) || left(md5(username || '.'), 8), id, now()
      FROM owners
    ), carts AS (
      INSERT INTO carts_cart (user_id, version, generation, updated_at)
      SELECT id, %(lines)s, 1 + (hashint8(id) & 2147483647) %% 2147483646,
        %(changed)s + %(lines)s * interval '1 millisecond'
      FROM owners
    )
    {_LINES.format(owners="owners")}
"""


def products_load(cursor) -> list[str]:
    """The 100 products the carts hold (a full cart holds every one)."""
    cursor.execute(
        """
        INSERT INTO carts_product (id, name, price, active, created_at, updated_at)
        SELECT id, 'Scale product ' || id, 1 + n %% 50 + 0.99, true, now(), now()
        FROM unnest(%(products)s::text[]) WITH ORDINALITY AS p(id, n)
        ON CONFLICT (id) DO NOTHING
        """,
        {"products": PRODUCTS},
    )
    return PRODUCTS


def staff_load(cursor) -> str:
    """The shop's front end: a superuser (it holds carts.manage_any_cart)
    with a token, as `make bench` calls the service; returns the token."""
    cursor.execute(
        """
        INSERT INTO carts_user (password, is_superuser, username, first_name,
          last_name, email, is_staff, is_active, date_joined)
        VALUES ('!', true, %(staff)s, '', '', '', true, true, now());
        INSERT INTO authtoken_token (key, user_id, created)
        SELECT md5(%(staff)s) || '00000000', id, now()
        FROM carts_user WHERE username = %(staff)s;
        SELECT key FROM authtoken_token t JOIN carts_user u ON u.id = t.user_id
        WHERE u.username = %(staff)s
        """,
        {"staff": STAFF},
    )
    return cursor.fetchone()[0]


def carts_load(
    cursor, *, first: int, last: int, prefix: str = "user", stale: bool = False
) -> None:
    """Users `first`..`last` (by number) with their tokens, carts and LINES
    lines each; `stale`: last changed STALE_AGE ago."""
    cursor.execute(
        _CARTS,
        {
            "first": first,
            "last": last,
            "prefix": prefix,
            "lines": LINES,
            "products": PRODUCTS,
            "spread": 7,
            "changed": _changed(cursor, stale),
            # Stale carts are all guests': purge_carts' work.
            "guests_in_five": 5 if stale else 3,
        },
    )


def cart_lines_set(cursor, *, users: int, lines: int) -> None:
    """The carts of user00001..`users` hold `lines` lines each, the same
    products (PRODUCTS[:lines]) in every one, each cart one version on."""
    owners = f"""(SELECT id FROM carts_user
      WHERE username IN (SELECT {_NAME} FROM {_NUMBERS}))"""
    cursor.execute(
        f"DELETE FROM carts_cartitem WHERE user_id IN {owners};"
        + _LINES.format(owners=owners)
        + f"""; UPDATE carts_cart SET version = version + 1, updated_at = now()
              WHERE user_id IN {owners}""",
        {
            "first": 1,
            "last": users,
            "prefix": "user",
            "lines": lines,
            "products": PRODUCTS,
            "spread": 0,
            "changed": _changed(cursor, stale=False),
        },
    )


def idempotency_records_load(cursor, *, count: int) -> None:
    """`count` stored answers of the staff's keys, as a retried add left them:
    a cart's JSON of about 400 bytes."""
    cursor.execute(
        """
        INSERT INTO carts_idempotencyrecord
          (caller_id, key, request_hash, status, body, etag, created_at)
        SELECT u.id, 'stored-' || i, md5(i::text) || md5(i::text || '.'), 200,
          repeat('{"product_id": "scale-001", "quantity": 1}', 10),
          '"' || i || '-0123456789abcdef"', now()
        FROM carts_user u, generate_series(1, %(count)s) i
        WHERE u.username = %(staff)s
        """,
        {"count": count, "staff": STAFF},
    )


def cart_events_load(cursor, *, count: int) -> None:
    """`count` events in the outbox, as adds to the loaded carts left them
    (`cart.item_added`, the data an add writes), spread over user00001…
    and written by one transaction (one feed position, then their ids)."""
    cursor.execute(
        """
        WITH owners AS (
          SELECT id, username, row_number() OVER (ORDER BY id) - 1 AS n
          FROM carts_user WHERE starts_with(username, 'user')
        ), total AS (SELECT count(*) AS owners FROM owners)
        INSERT INTO carts_cartevent
          (position, user_pk, username, type, cart_version, occurred_at, data)
        SELECT pg_current_xact_id()::text::bigint, o.id, o.username,
          'cart.item_added', %(lines)s + 1 + i / (SELECT owners FROM total),
          now(), jsonb_build_object('product_id', %(product)s::text,
            'quantity_added', 1, 'quantity', 2)
        FROM generate_series(0, %(count)s - 1) i
          JOIN owners o ON o.n = i %% (SELECT owners FROM total)
        """,
        {"count": count, "lines": LINES, "product": PRODUCTS[0]},
    )


def _changed(cursor, stale: bool):
    cursor.execute("SELECT now() - %s::interval", [STALE_AGE if stale else "0 seconds"])
    return cursor.fetchone()[0]


def shape(cursor, prefix: str = "user") -> dict[str, float]:
    """What the users named `prefix`… really hold: counts, lines per cart,
    the guest share, and how many carts break what the service expects."""
    cursor.execute(
        """
        WITH owners AS (
          SELECT u.id, u.is_guest, k.version, k.generation,
            (SELECT count(*) FROM carts_cartitem c WHERE c.user_id = u.id) AS lines,
            EXISTS (SELECT 1 FROM authtoken_token t WHERE t.user_id = u.id)
              AS has_token
          FROM carts_user u LEFT JOIN carts_cart k ON k.user_id = u.id
          WHERE starts_with(u.username, %(prefix)s)
        )
        SELECT count(*), count(version), count(*) FILTER (WHERE is_guest),
          coalesce(sum(lines), 0), min(lines), max(lines),
          count(*) FILTER (WHERE has_token),
          count(*) FILTER (WHERE version IS DISTINCT FROM lines
                              OR generation NOT BETWEEN 1 AND 2147483647)
        FROM owners
        """,
        {"prefix": prefix},
    )
    users, carts, guests, lines, fewest, most, tokens, off = cursor.fetchone()
    return {
        "users": users,
        "carts": carts,
        "guest_share": guests / users if users else 0.0,
        "lines": lines,
        "fewest_lines": fewest or 0,
        "most_lines": most or 0,
        "tokens": tokens,
        "carts_off_version": off,
    }
