"""The cart's SQL statements, parameterised, for PostgreSQL and SQLite (3.35+).

Plain strings with no Django import, so that the benchmark's floor
(bench/floor.py) runs exactly the text the service runs.
"""

# The row to insert exists only if the user and an active product exist, and
# the line either exists already or still fits under the line limit.
_CANDIDATE_LINE = """
    SELECT u.id, p.id, %(quantity)s, %(now)s, %(now)s
    FROM carts_user u, carts_product p
    WHERE u.username = %(username)s AND p.id = %(product_id)s AND p.active
      AND (
        EXISTS (SELECT 1 FROM carts_cartitem c
                WHERE c.user_id = u.id AND c.product_id = p.id)
        OR (SELECT COUNT(*) FROM carts_cartitem c WHERE c.user_id = u.id)
           < %(max_lines)s
      )
"""

_RETURNING_LINE = """
    RETURNING quantity, created_at = updated_at,
      (SELECT name FROM carts_product WHERE carts_product.id = product_id),
      (SELECT price FROM carts_product WHERE carts_product.id = product_id)
"""

ADD_SQL = f"""
    INSERT INTO carts_cartitem (user_id, product_id, quantity, created_at, updated_at)
    {_CANDIDATE_LINE}
    ON CONFLICT (user_id, product_id) DO UPDATE
      SET quantity = carts_cartitem.quantity + excluded.quantity,
          updated_at = excluded.updated_at
      WHERE carts_cartitem.quantity + excluded.quantity <= %(max_quantity)s
    {_RETURNING_LINE}
"""

SET_SQL = f"""
    INSERT INTO carts_cartitem (user_id, product_id, quantity, created_at, updated_at)
    {_CANDIDATE_LINE}
    ON CONFLICT (user_id, product_id) DO UPDATE
      SET quantity = excluded.quantity, updated_at = excluded.updated_at
    {_RETURNING_LINE}
"""

REMOVE_SQL = """
    DELETE FROM carts_cartitem
    WHERE product_id = %(product_id)s
      AND user_id = (SELECT id FROM carts_user WHERE username = %(username)s)
"""

CLEAR_SQL = """
    DELETE FROM carts_cartitem
    WHERE user_id = (SELECT id FROM carts_user WHERE username = %(username)s)
"""


# Only on a refused write: one more query to say precisely what was wrong.
DIAGNOSE_SQL = """
    SELECT
      EXISTS (SELECT 1 FROM carts_user WHERE username = %(username)s),
      EXISTS (SELECT 1 FROM carts_product
              WHERE id = %(product_id)s AND active),
      EXISTS (SELECT 1 FROM carts_cartitem c
              JOIN carts_user u ON u.id = c.user_id
              WHERE u.username = %(username)s AND c.product_id = %(product_id)s)
"""

# A cart in one query: the user LEFT JOIN its lines, so that an unknown user
# (no row) differs from an empty cart (one row of NULLs); lines in add order.
CART_SQL = """
    SELECT c.product_id, p.name, c.quantity, p.price
    FROM carts_user u
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
