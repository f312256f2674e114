"""A third worker added and the shards rebalanced (citus_rebalance_start: shards
moved by logical replication, writes blocked only at each move's cut-over)
while adds run through nginx and the gRPC server: every add answered 2xx is
in the carts afterwards, and none was refused except as the service refuses
when the database is slow (503 service_unavailable, docs/API.md)."""

import os
import time

from ...stack.stack import compose, connected, port, record, wait_healthy
from ...stack_ha.test_failover import AddLoad, cart_lines, catalog

WORKER = "citus-worker3"
REBALANCED_WITHIN = 240.0  # seconds; 4 shards of 5 tables, nearly empty


def placements_on(worker_port: int) -> int:
    with connected("db") as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM citus_shards WHERE nodeport = %s", (worker_port,)
        )
        (count,) = cursor.fetchall()[0]
        return int(count)


def rebalance() -> float:
    """Add the third worker as citus-init adds the first two (the cluster's
    password on it, citus_add_node), rebalance, wait for the end: the seconds
    it took."""
    started = time.monotonic()
    workers = " ".join(
        f"127.0.0.1:{port(worker)}"
        for worker in ("citus_worker1", "citus_worker2", "citus_worker3")
    )
    database = os.environ.get("POSTGRES_DB", "cart")
    compose(
        "run", "--rm", "-T", "-e", f"CITUS_WORKERS={workers}", "citus-init", database
    )
    with connected("db") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT citus_rebalance_start()")
        while True:
            cursor.execute("SELECT state FROM citus_rebalance_status()")
            (state,) = cursor.fetchall()[0]
            if state == "finished":
                return time.monotonic() - started
            assert state in ("scheduled", "running"), state
            assert time.monotonic() - started < REBALANCED_WITHIN, "still running"
            time.sleep(0.5)


def test_a_worker_added_under_load_loses_no_acknowledged_add(staff_token):
    compose("--profile", "citus-grow", "up", "--detach", WORKER)
    wait_healthy(WORKER)
    assert placements_on(port("citus_worker3")) == 0
    with AddLoad(staff_token, catalog(staff_token)) as load:
        time.sleep(2)
        took = rebalance()
        time.sleep(2)
    moved = placements_on(port("citus_worker3"))
    assert moved > 0

    outcomes = {a.outcome for a in load.adds}
    assert outcomes <= {"ok", "503", "UNAVAILABLE"}, outcomes
    carts = sorted({a.cart for a in load.adds})
    lines = {cart: cart_lines(staff_token, cart) for cart in carts}
    acknowledged = [a for a in load.adds if a.outcome == "ok"]
    lost = [a for a in acknowledged if lines[a.cart].get(a.product) != 1]
    assert not lost, f"{len(lost)} acknowledged adds missing: {lost[:5]}"
    refused = len(load.adds) - len(acknowledged)
    health = {status for _, status, _ in load.probes}
    assert health == {200}, f"/healthz answered {health}"
    record(
        f"rebalance onto a third worker: {moved} shard placements moved in"
        f" {took:.1f} s under load; {len(acknowledged)} acknowledged adds"
        f" checked, all present; {refused} refused ({sorted(outcomes)})"
    )
