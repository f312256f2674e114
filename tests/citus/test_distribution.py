"""Migration carts 0016 on a Citus cluster: the tables distributed as
docs/scaling.md says, and a burst of adds over carts on every worker."""

import threading

import pytest
from django.db import connection

from ..conftest import cart_lines, concurrently, token_client

pytestmark = pytest.mark.django_db(transaction=True)

PER_SHOPPER = {
    "carts_cart": "user_id",
    "carts_cartitem": "user_id",
    "carts_idempotencyrecord": "caller_id",
    "carts_checkout": "user_id",
    "carts_cartevent": "user_pk",
}


def citus_tables() -> dict[str, tuple[str, str | None, int]]:
    """Each Citus table: (kind, distribution column, co-location group)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name::text, citus_table_type, distribution_column,"
            " colocation_id FROM citus_tables"
        )
        return {
            name: (kind, None if column == "<none>" else column, group)
            for name, kind, column, group in cursor.fetchall()
        }


def test_per_shopper_tables_are_distributed_by_the_shopper_and_co_located():
    tables = citus_tables()

    assert {name: tables[name][:2] for name in PER_SHOPPER} == {
        name: ("distributed", column) for name, column in PER_SHOPPER.items()
    }
    assert len({tables[name][2] for name in PER_SHOPPER}) == 1


def test_what_shards_join_is_a_reference_table_and_webhooks_stay_on_the_coordinator():
    kinds = {name: kind for name, (kind, _, _) in citus_tables().items()}

    for name in ("carts_product", "carts_user", "authtoken_token", "auth_permission"):
        assert kinds[name] == "reference", name
    for name in ("carts_webhookdelivery", "carts_webhookattempt", "django_admin_log"):
        assert kinds[name] == "local", name
    assert "django_session" not in kinds and "carts_feed_waiter" not in kinds


def test_every_worker_holds_carts_of_the_shoppers(make_client, catalog):
    shoppers = [make_client(f"spread{n}") for n in range(16)]
    for shopper in shoppers:
        shopper.post(
            f"/cart/{shopper.user.username}",
            {"product_id": "L9ECAV7KIM", "quantity": 1},
            format="json",
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT user_id FROM carts_cartitem")
        shopper_pks = [pk for (pk,) in cursor.fetchall()]
        cursor.execute(
            "SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement"
            " WHERE shardid IN (SELECT get_shard_id_for_distribution_column("
            "   'carts_cartitem', pk) FROM unnest(%s::bigint[]) pk)",
            [shopper_pks],
        )
        (nodes,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_dist_node WHERE groupid > 0 AND shouldhaveshards"
        )
        (workers,) = cursor.fetchone()
    assert workers >= 2 and nodes == workers


def test_200_concurrent_adds_over_carts_on_every_worker_lose_none(make_client, catalog):
    """100 adds to one cart and 100 spread over ten others, at once."""
    hot = make_client("hot")
    others = [make_client(f"shopper{n}") for n in range(10)]
    turns = iter([hot] * 100 + others * 10)
    lock = threading.Lock()

    def add():
        with lock:
            shopper = next(turns)
        return token_client(shopper).post(
            f"/cart/{shopper.user.username}",
            {"product_id": "L9ECAV7KIM", "quantity": 1},
            format="json",
        )

    statuses = [response.status_code for response in concurrently(200, add)]

    assert sorted(statuses) == [200] * 189 + [201] * 11
    assert cart_lines("hot") == [("L9ECAV7KIM", 100)]
    for n in range(10):
        assert cart_lines(f"shopper{n}") == [("L9ECAV7KIM", 10)]
