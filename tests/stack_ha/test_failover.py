"""The primary lost under a steady add load (killed, or handed over with
`patronictl switchover`): every add the service acknowledged is in the carts
afterwards, the service answers 503 quickly meanwhile and writes again by
itself, /healthz answers throughout, and the old primary comes back as a
standby that refuses writes (docs/failover.md)."""

import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import grpc
import pytest

from carts.grpc import cart_pb2, cart_pb2_grpc

from ..stack.stack import call, compose, port, record
from .cluster import NODES, leader, members, refused_write, wait_replicated

pytestmark = pytest.mark.stack

REST_CLIENTS = 6
PAUSE = 0.05  # between one client's adds: a steady load, not a flood
RESUMED_FOR = 5.0  # seconds of load kept up once writes succeed again
RESUME_WITHIN = 30.0  # the bound, from the loss of the primary
# A refusal waits at most for a bulkhead slot (DATABASE_BULKHEAD_WAIT, 3 s),
# a connection (2 s) and a round trip (DATABASE_QUERY_TIMEOUT, 3 s).
SLOWEST_REFUSAL = 10.0


class Add(NamedTuple):
    cart: str
    product: str
    started: float
    answered: float
    outcome: str  # "ok", or the HTTP status / gRPC code it was refused with


class AddLoad:
    """REST_CLIENTS threads adding through nginx and one through the gRPC
    server, until stopped; a probe of /healthz every 0.2 s. Each (cart,
    product) receives exactly one add of quantity 1, so the carts afterwards
    show which adds committed."""

    def __init__(self, token: str, products: list[str]):
        self.token = token
        self.products = products
        self.run = uuid.uuid4().hex[:8]
        self.adds: list[Add] = []
        self.probes: list[tuple[float, int, float]] = []  # (at, status, seconds)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._rest_client, args=(index,))
            for index in range(REST_CLIENTS)
        ]
        self._threads += [
            threading.Thread(target=self._grpc_client),
            threading.Thread(target=self._probe_health),
        ]

    def __enter__(self) -> "AddLoad":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _targets(self, client: str):
        count = 0
        while not self._stop.wait(PAUSE):
            cart = f"ha-{self.run}-{client}-{count // len(self.products)}"
            yield cart, self.products[count % len(self.products)]
            count += 1

    def _rest_client(self, index: int) -> None:
        for cart, product in self._targets(f"r{index}"):
            started = time.monotonic()
            try:
                answer = call(
                    "web",
                    "POST",
                    f"/cart/{cart}",
                    token=self.token,
                    body={"product_id": product, "quantity": 1},
                    timeout=15,
                )
                outcome = "ok" if answer.status in (200, 201) else str(answer.status)
            except OSError as error:
                outcome = type(error).__name__
            self.adds.append(Add(cart, product, started, time.monotonic(), outcome))

    def _grpc_client(self) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port('grpc')}") as channel:
            stub = cart_pb2_grpc.CartServiceStub(channel)
            for cart, product in self._targets("g"):
                started = time.monotonic()
                request = cart_pb2.AddItemRequest(
                    user_id=cart,
                    item=cart_pb2.CartItem(product_id=product, quantity=1),
                )
                try:
                    stub.AddItem(request, timeout=15)
                    outcome = "ok"
                except grpc.RpcError as error:
                    outcome = error.code().name
                self.adds.append(Add(cart, product, started, time.monotonic(), outcome))

    def _probe_health(self) -> None:
        while not self._stop.wait(0.2):
            started = time.monotonic()
            try:
                status = call("web", "GET", "/healthz", timeout=5).status
            except OSError:
                status = 0
            self.probes.append((started, status, time.monotonic() - started))

    def resumed_at(self, since: float) -> float | None:
        """When the first add answered after the first refusal since `since`
        succeeded (None: no success yet); `since` itself if none was refused."""
        refused = [
            a.answered for a in self.adds if a.started >= since and a.outcome != "ok"
        ]
        if not refused:  # none (yet): writes never stopped
            return since if self.succeeded_after(since) is not None else None
        return self.succeeded_after(min(refused))

    def succeeded_after(self, moment: float) -> float | None:
        answered = [
            a.answered for a in self.adds if a.started >= moment and a.outcome == "ok"
        ]
        return min(answered, default=None)


def docker(*args: str) -> None:
    """The docker CLI itself: compose's start-up would delay the moment measured."""
    subprocess.run(["docker", *args], check=True, capture_output=True, timeout=60)


def catalog(token: str) -> list[str]:
    return [
        product["id"] for product in call("web", "GET", "/products", token=token).body
    ]


def cart_lines(token: str, cart: str) -> dict[str, int]:
    answer = call("web", "GET", f"/cart/{cart}", token=token)
    assert answer.status == 200, answer
    return {line["product_id"]: line["quantity"] for line in answer.body["items"]}


def lose_primary_under_load(
    token: str, lose: Callable[[], None]
) -> tuple[AddLoad, float, float]:
    """Run the load, call `lose()` after 3 s, keep the load up until writes
    have succeeded again for RESUMED_FOR s (at most RESUME_WITHIN + 10 s):
    the load, the moment of the loss and the moment writes resumed."""
    with AddLoad(token, catalog(token)) as load:
        time.sleep(3)
        lost_at = time.monotonic()
        lose()
        deadline = lost_at + RESUME_WITHIN + 10
        while time.monotonic() < deadline:
            resumed = load.resumed_at(lost_at)
            if resumed is not None and time.monotonic() > resumed + RESUMED_FOR:
                break
            time.sleep(0.2)
    resumed = load.resumed_at(lost_at)
    assert resumed is not None, "writes did not resume"
    return load, lost_at, resumed


def check_every_acknowledged_add(
    token: str, load: AddLoad, label: str, lost_at: float, resumed: float
) -> None:
    """The guarantees, then the figures for the report."""
    outcomes = {a.outcome for a in load.adds}
    assert outcomes <= {"ok", "503", "UNAVAILABLE"}, outcomes
    refusals = [a for a in load.adds if a.outcome != "ok"]
    refusal_times = [a.answered - a.started for a in refusals] or [0.0]
    slowest = max(refusal_times)
    assert slowest < SLOWEST_REFUSAL, f"a refusal took {slowest:.1f} s"
    # Once back, back for good: every add started a second after the first
    # success succeeded.
    late = [a for a in refusals if a.started > resumed + 1]
    assert not late, late[:5]
    assert resumed - lost_at <= RESUME_WITHIN

    carts = sorted({a.cart for a in load.adds})
    with ThreadPoolExecutor(4) as pool:
        lines = dict(
            zip(
                carts,
                pool.map(lambda cart: cart_lines(token, cart), carts),
                strict=True,
            )
        )
    acknowledged = [a for a in load.adds if a.outcome == "ok"]
    lost = [a for a in acknowledged if lines[a.cart].get(a.product) != 1]
    assert not lost, f"{len(lost)} acknowledged adds missing: {lost[:5]}"
    assert all(q == 1 for cart in lines.values() for q in cart.values())
    committed_anyway = sum(1 for a in refusals if a.product in lines[a.cart])

    health = [status for _, status, _ in load.probes]
    assert health and set(health) == {200}, f"/healthz answered {set(health)}"
    slowest_probe = max(seconds for _, _, seconds in load.probes)
    assert slowest_probe < 3, f"/healthz took {slowest_probe:.1f} s"

    first_refusal = min((a.answered for a in refusals), default=resumed)
    record(
        f"{label}: {len(acknowledged)} acknowledged adds checked, all present"
        f" ({len(refusals)} refused, {committed_anyway} of them committed anyway);"
        f" gap {resumed - first_refusal:.1f} s from the first refusal to the"
        f" first success, writes back {resumed - lost_at:.1f} s after the loss;"
        f" refusals took {statistics.median(refusal_times):.2f} s (median),"
        f" {slowest:.2f} s at most; /healthz {len(health)} x 200,"
        f" slowest {slowest_probe:.2f} s"
    )


def check_rejoined_as_standby(node: str, label: str, since: float) -> None:
    waited = wait_replicated()
    assert members()[node]["role"] == "sync_standby"
    refusal = refused_write(node)
    assert refusal == "ReadOnlySqlTransaction", refusal or "the write was accepted"
    record(
        f"{label}: the old primary {node} is the synchronous standby again"
        f" {time.monotonic() - since:.1f} s after (last {waited:.1f} s waited for it);"
        f" a write on it directly: {refusal}"
    )


@pytest.fixture
def replicated() -> str:
    """The cluster with a primary and a synchronous standby; the primary's name."""
    for node in NODES:
        compose("start", node)
    wait_replicated()
    return leader()


def test_killed_primary_loses_no_acknowledged_add_and_rejoins_as_a_standby(
    staff_token, replicated
):
    container = compose("ps", "-q", replicated).strip()
    load, lost_at, resumed = lose_primary_under_load(
        staff_token, lambda: docker("kill", container)
    )
    assert leader() != replicated
    check_every_acknowledged_add(staff_token, load, "primary killed", lost_at, resumed)

    restarted = time.monotonic()
    compose("start", replicated)
    check_rejoined_as_standby(replicated, "primary killed, restarted", restarted)


def test_switchover_under_load_loses_no_acknowledged_add(staff_token, replicated):
    (candidate,) = set(NODES) - {replicated}
    container = compose("ps", "-q", replicated).strip()
    switchover = (
        "exec",
        container,
        "patronictl",
        "-c",
        "/tmp/patroni.yml",
        "switchover",
        "--leader",
        replicated,
        "--candidate",
        candidate,
        "--force",
    )
    load, lost_at, resumed = lose_primary_under_load(
        staff_token, lambda: docker(*switchover)
    )
    assert leader() == candidate
    check_every_acknowledged_add(staff_token, load, "switchover", lost_at, resumed)
    check_rejoined_as_standby(replicated, "switchover", lost_at)
