"""The feed's total order on a Citus cluster (docs/scaling.md, "The feed's
total order across shards"): an event whose transaction is still open holds
back the later events of other carts, on any worker, until it commits;
then a follower gets every event once, in order."""

import json

import psycopg2
import pytest

from carts.cart import sql
from carts.demo import LOAFERS, MUG

from ..conftest import add, database_url_for_tests
from ..test_events import follow

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_change_that_commits_late_is_neither_skipped_nor_passed(
    make_client, catalog, staff
):
    late, early = make_client("late"), make_client("early")
    add(late, "late", LOAFERS)
    add(early, "early", LOAFERS)
    after = follow(staff)["next"]
    # The late change, as the service records one, in a transaction left open.
    writer = psycopg2.connect(database_url_for_tests())
    try:
        with writer.cursor() as cursor:
            params = {
                "user_pk": late.user.pk,
                "username": "late",
                "now": "now",
                "event": "cart.item_added",
                "data": json.dumps({"product_id": MUG}),
            }
            cursor.execute(sql.CITUS_LOCK_CART, params)
            for statement in sql.record_change("citus", "= %(user_pk)s"):
                cursor.execute(statement, params)
        add(early, "early", MUG)  # begun and committed after the late one began
        add(early, "early", MUG)

        assert follow(staff, after)["events"] == []  # held back, not passed
        writer.commit()
    finally:
        writer.close()

    events = follow(staff, after)["events"]
    assert [
        (event["user_id"], event["data"].get("product_id")) for event in events
    ] == [
        ("late", MUG),
        ("early", MUG),
        ("early", MUG),
    ]
    assert follow(staff, follow(staff, after)["next"])["events"] == []
