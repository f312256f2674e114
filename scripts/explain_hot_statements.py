"""The query plans of the service's hot statements, for docs/scaling.md.

    scripts/with-postgres .venv/bin/python scripts/explain_hot_statements.py

Migrates the database DATABASE_URL names (a throwaway one, as above), seeds
20,000 users with a cart of 5 lines each, ANALYZEs, and prints the plan of
every statement a cart request runs (EXPLAIN without ANALYZE: nothing is
executed), with the parameters a request would send.
"""

import os
import sys
from pathlib import Path
from typing import Any

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cartproject.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "explain-only-not-secret")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from carts.auth.authentication import _TOKEN_USER_SQL  # noqa: E402
from carts.cart import sql  # noqa: E402
from carts.domain.limits import Limits  # noqa: E402

SEED = """
    INSERT INTO carts_user (username, password, is_superuser, first_name,
      last_name, email, is_staff, is_active, date_joined)
    SELECT 'user' || n, '!', false, '', '', '', false, true, now()
    FROM generate_series(1, 20000) n;
    INSERT INTO carts_cart (user_id, version, updated_at)
    SELECT id, 1, now() FROM carts_user;
    INSERT INTO carts_cartitem (user_id, product_id, quantity, created_at, updated_at)
    SELECT u.id, p.id, 1, now(), now()
    FROM carts_user u CROSS JOIN (SELECT id FROM carts_product LIMIT 5) p;
    INSERT INTO authtoken_token (key, user_id, created)
    SELECT md5(id::text) || substr(md5(id::text), 1, 8), id, now() FROM carts_user;
    ANALYZE;
"""

PARAMS: dict[str, Any] = {
    "username": "user4242",
    "product_id": "L9ECAV7KIM",
    "quantity": 1,
    "now": timezone.now(),
    **Limits().sql_params(),
    "key": "example-token-key-of-40-characters-xxxx",
    "if_match": None,
}


def statements(one_round_trip: str) -> list[str]:
    """A write's round trip: the lock, then the change with its version bump."""
    lock, change = one_round_trip.split(";", 1)
    return [lock, change]


HOT = {
    "GET /cart/<user_id> (cart_get)": [sql.CART_SQL],
    "POST /cart/<user_id> (cart_item_add)": statements(sql.ADD_SQL),
    "PUT .../items/<product_id> (cart_item_set)": statements(sql.SET_SQL),
    "DELETE .../items/<product_id> (cart_item_remove)": statements(sql.REMOVE_SQL),
    "DELETE /cart/<user_id> (cart_clear)": statements(sql.CLEAR_SQL),
    "every request with a token (TokenAuthentication)": [_TOKEN_USER_SQL],
}


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("loaddata", "catalog", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(SEED)
        cursor.execute(
            "SELECT id FROM carts_user WHERE username = %(username)s", PARAMS
        )
        PARAMS["user_pk"] = cursor.fetchone()[0]
        for title, texts in HOT.items():
            print(f"-- {title}")
            for text in texts:
                cursor.execute(f"EXPLAIN (COSTS OFF) {text}", PARAMS)
                print("\n".join(row[0] for row in cursor.fetchall()))
            print()


if __name__ == "__main__":
    main()
