"""The gRPC server through a database outage and a stall, for real: on a
PostgreSQL cluster of the test's own, stopped (or frozen) under it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from carts.grpc.cart_pb2 import (
    AddItemRequest,
    CartItem,
    EmptyCartRequest,
    GetCartRequest,
)
from devtools.liveservice import ROOT, GrpcServer, prepare_database
from devtools.pgcluster import Cluster

pytestmark = pytest.mark.pg_server

LOAFERS, MUG = "L9ECAV7KIM", "6E92ZMYYFZ"
SESSION = "6f1c7c36-1f0e-4b6b-9d57-3d1f6c1e2a10"


@pytest.fixture
def cluster():
    with Cluster() as cluster:
        yield cluster


def add(server, product_id: str, quantity: int = 1):
    item = CartItem(product_id=product_id, quantity=quantity)
    return server.cart.AddItem(AddItemRequest(user_id=SESSION, item=item), timeout=10)


def lines(server) -> list[tuple[str, int]]:
    cart = server.cart.GetCart(GetCartRequest(user_id=SESSION), timeout=10)
    return [(item.product_id, item.quantity) for item in cart.items]


def test_database_down_is_unavailable_and_not_serving_then_recovers_by_itself(
    cluster, tmp_path
):
    prepare_database(cluster.url)
    with GrpcServer(cluster.url, tmp_path) as server:
        add(server, LOAFERS, 2)
        add(server, MUG, 1)
        # Let several pool threads hold a connection each.
        for _ in range(8):
            assert lines(server) == [(LOAFERS, 2), (MUG, 1)]
        assert server.health_status("hipstershop.CartService") == "SERVING"

        cluster.stop()

        calls = [
            lambda: add(server, LOAFERS),
            lambda: lines(server),
            lambda: server.cart.EmptyCart(EmptyCartRequest(user_id=SESSION)),
        ]
        for call in calls * 3:  # every call, on several threads' connections
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as raised:
                call()
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
            assert raised.value.details() == (
                "The database is unavailable; try again shortly."
            )
            assert ("error-code", "service_unavailable") in [
                tuple(item) for item in raised.value.trailing_metadata()
            ]
            assert time.monotonic() - started < 5
        down = server.wait_until(
            lambda: server.health_status("") == "NOT_SERVING", timeout=10
        )
        assert server.health_status("hipstershop.CartService") == "NOT_SERVING"
        probe = subprocess.run(
            [sys.executable, "-m", "carts.grpc.probe", server.address],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (probe.returncode, probe.stderr) == (
            1,
            "probe: hipstershop.CartService is NOT_SERVING\n",
        )

        cluster.start()

        up = server.wait_until(
            lambda: server.health_status("") == "SERVING", timeout=10
        )
        assert server.health_status("hipstershop.CartService") == "SERVING"
        for _ in range(8):
            assert lines(server) == [(LOAFERS, 2), (MUG, 1)]  # nothing lost
        add(server, LOAFERS)
        assert lines(server) == [(LOAFERS, 3), (MUG, 1)]
        assert server.process.poll() is None  # recovered without a restart
    assert down < 3 and up < 3
    assert "Traceback" not in server.log()


def test_a_stalled_database_is_not_serving_and_calls_end_unavailable_in_time(
    cluster, tmp_path
):
    prepare_database(cluster.url)
    with GrpcServer(cluster.url, tmp_path) as server:
        for _ in range(4):  # connections open on the pool's threads
            assert lines(server) == []
        assert server.health_status() == "SERVING"
        processes = cluster_processes(cluster)
        try:
            for pid in processes:  # frozen: connections open, no answer
                os.kill(pid, signal.SIGSTOP)
            stalled = server.wait_until(
                lambda: server.health_status() == "NOT_SERVING", timeout=10
            )
            # More calls than the bulkhead's slots (3) and the pool's threads
            # (4): each ends UNAVAILABLE by the query deadline (3 s) or at
            # once, refused by the bulkhead; health keeps answering meanwhile.
            started = time.monotonic()
            item = CartItem(product_id=LOAFERS, quantity=1)
            calls = [
                server.cart.AddItem.future(
                    AddItemRequest(user_id=SESSION, item=item), timeout=30
                )
                for _ in range(8)
            ]
            assert server.health_status() == "NOT_SERVING"
            codes = [call.code() for call in calls]
            ended = time.monotonic() - started
        finally:
            for pid in processes:
                os.kill(pid, signal.SIGCONT)
        server.wait_until(lambda: server.health_status() == "SERVING", timeout=10)
        add(server, MUG)
        # A call that ended UNAVAILABLE may still have been applied once its
        # statement reached the frozen server (docs/grpc.md); none twice.
        cart = dict(lines(server))
        assert cart.pop(MUG) == 1
        assert set(cart) <= {LOAFERS} and cart.get(LOAFERS, 0) <= len(calls)
    # A probe each second, each given 500 ms: at most 1.5 s, plus polling.
    assert stalled < 2.5
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 8
    assert ended < 5  # one deadline, not one per wave of threads


def cluster_processes(cluster) -> list[int]:
    """The postmaster and its children (backends and helpers), from /proc."""
    postmaster = int((cluster.dir / "data" / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if parent == postmaster:
            pids.append(int(stat.parent.name))
    return pids
