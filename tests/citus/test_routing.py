"""Every hot statement on a Citus cluster reaches one worker, the cart's.

Each request runs through the API as a client sends it; every statement it
sent that reads or writes a per-shopper table is then EXPLAINed (EXPLAIN
runs nothing) and its plan must show one task per step, on the worker that
holds the shopper's shard: no statement fans out to every shard, none reaches
another worker. docs/scaling.md explains the steps: an item's INSERT ...
SELECT is the SELECT on the worker, then the INSERT of its row there."""

import re
from collections.abc import Callable

import pytest
import sqlparse
from django.db import connection
from django.test.utils import CaptureQueriesContext

from carts.demo import LOAFERS

from ..conftest import add

pytestmark = pytest.mark.django_db(transaction=True)

PER_SHOPPER = re.compile(
    r"\b(carts_cart|carts_cartitem|carts_checkout|carts_cartevent"
    r"|carts_idempotencyrecord)\b"
)


def worker_of(user_pk: int) -> str:
    """host:port of the worker holding the shopper's shards."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nodename || ':' || nodeport FROM pg_dist_shard_placement"
            " WHERE shardid = get_shard_id_for_distribution_column('carts_cart', %s)",
            [user_pk],
        )
        (node,) = cursor.fetchall()[0]
    return str(node)


def plans_of(request: Callable[[], object]) -> list[tuple[str, list[str]]]:
    """The statements `request` sent that touch a per-shopper table, each
    with its plan's lines."""
    with CaptureQueriesContext(connection) as captured:
        request()
    statements = [
        statement.strip().rstrip(";")
        for query in captured.captured_queries
        for statement in sqlparse.split(query["sql"])
        if PER_SHOPPER.search(statement)
        and not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE"))
    ]
    plans = []
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(f"EXPLAIN (VERBOSE) {statement}")
            plans.append((statement, [line for (line,) in cursor.fetchall()]))
    return plans


def assert_one_task_each_on(worker: str, plans: list[tuple[str, list[str]]]) -> None:
    assert plans
    for statement, plan in plans:
        text = "\n".join(plan)
        counts = re.findall(r"Task Count: (\d+)", text)
        nodes = {
            f"{host}:{port}"
            for host, port in re.findall(r"Node: host=(\S+) port=(\d+)", text)
        }
        assert counts and set(counts) == {"1"}, f"{statement}\n{text}"
        assert nodes == {worker}, f"{statement}\n{text}"


@pytest.fixture
def shopper(make_client, catalog):
    client = make_client("alice")
    add(client, "alice", LOAFERS, 1)  # the user's pk is known, its cart exists
    return client


def test_the_writes_reach_only_the_carts_worker(shopper):
    worker = worker_of(shopper.user.pk)
    requests = {
        "add": lambda: shopper.post(
            "/cart/alice", {"product_id": LOAFERS, "quantity": 1}, format="json"
        ),
        "set": lambda: shopper.put(
            f"/cart/alice/items/{LOAFERS}", {"quantity": 5}, format="json"
        ),
        "remove": lambda: shopper.delete(f"/cart/alice/items/{LOAFERS}"),
        "clear": lambda: shopper.delete("/cart/alice"),
    }
    for name, request in requests.items():
        add(shopper, "alice", LOAFERS, 1)  # something to change
        plans = plans_of(request)
        assert any("carts_cartevent" in statement for statement, _ in plans), name
        assert_one_task_each_on(worker, plans)


def test_the_reads_reach_only_the_carts_worker(shopper):
    worker = worker_of(shopper.user.pk)
    etag = shopper.get("/cart/alice")["ETag"]

    assert_one_task_each_on(worker, plans_of(lambda: shopper.get("/cart/alice")))
    not_modified = plans_of(lambda: shopper.get("/cart/alice", HTTP_IF_NONE_MATCH=etag))
    assert_one_task_each_on(worker, not_modified)


def test_the_checkout_steps_reach_only_the_carts_worker(shopper):
    worker = worker_of(shopper.user.pk)
    answers = []

    assert_one_task_each_on(
        worker,
        plans_of(lambda: answers.append(shopper.post("/cart/alice/checkout"))),
    )
    checkout_id = answers[0].json()["checkout"]["id"]
    assert_one_task_each_on(
        worker,
        plans_of(
            lambda: answers.append(
                shopper.post(f"/cart/alice/checkout/{checkout_id}/complete")
            )
        ),
    )
    assert [answer.status_code for answer in answers] == [201, 200]
