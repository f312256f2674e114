"""A database that stops answering, for real: gunicorn on a PostgreSQL cluster
of the test's own, whose packets the test drops (a network partition, with
iptables) or whose processes it freezes (SIGSTOP), with every worker thread
holding an open connection first and cart traffic throughout
(docs/reliability.md)."""

import http.client
import json
import os
import signal
import socket
import threading
import time
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest

from devtools.liveservice import Gunicorn, prepare_database
from devtools.netfilter import partition, require_iptables
from devtools.pgcluster import Cluster

pytestmark = [pytest.mark.pg_server, pytest.mark.netfilter]

WORKERS, THREADS = 2, 4
FAULT_SECONDS = 12
CLIENTS = 24  # the burst that used to hang: 24 of 24 requests
PRODUCTS = ["OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N"]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with Cluster() as cluster:
        tokens = prepare_database(cluster.url)
        directory = tmp_path_factory.mktemp("gunicorn")
        threads = {"GUNICORN_THREADS": str(THREADS)}
        with Gunicorn(cluster.url, directory, workers=WORKERS, env=threads) as server:
            yield cluster, server, tokens["demo"]
        assert "Traceback" not in server.log()


def server_connections(cluster: Cluster) -> int:
    """Client connections to the cluster, other than this one."""
    with psycopg2.connect(cluster.url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type ="
            " 'client backend' AND pid <> pg_backend_pid()"
        )
        (count,) = cursor.fetchone() or (0,)
        return int(count)


def stored_quantities(cluster: Cluster) -> dict[str, int]:
    with psycopg2.connect(cluster.url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT product_id, quantity FROM carts_cartitem"
            " JOIN carts_user u ON u.id = user_id WHERE u.username = 'demo'"
        )
        return dict(cursor.fetchall())


def open_every_threads_connection(cluster: Cluster, server: Gunicorn, token: str):
    """Bursts of concurrent reads until each worker thread has connected."""

    def burst():
        readers = [
            threading.Thread(
                target=server.request,
                args=("GET", "/cart/demo"),
                kwargs={"token": token},
            )
            for _ in range(4 * THREADS)
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        return server_connections(cluster) >= WORKERS * THREADS

    server.wait_until(burst, timeout=30)


@contextmanager
def frozen(cluster: Cluster):
    """SIGSTOP the cluster's processes (postmaster first: it forks no more),
    SIGCONT them afterwards. The kernel still accepts connections and
    acknowledges every packet; nothing answers."""
    postmaster = int((cluster.dir / "data" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGSTOP)
    children = [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _parent_pid(stat) == postmaster
    ]
    try:
        for child in children:
            os.kill(child, signal.SIGSTOP)
        yield
    finally:
        for pid in [*children, postmaster]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _parent_pid(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return None


@dataclass
class Traffic:
    """Cart requests from CLIENTS threads (an add, then a read, and so on)
    and a /healthz probe, until stopped; what each answered and when."""

    server: Gunicorn
    token: str
    cart: list = field(default_factory=list)  # (sent at, method, product, answer)
    health: list = field(default_factory=list)  # (sent at, answer)
    failures: list = field(default_factory=list)  # no answer at all
    stopping: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "Traffic":
        self.threads = [
            threading.Thread(target=self.shop, args=(PRODUCTS[n % len(PRODUCTS)],))
            for n in range(CLIENTS)
        ]
        self.threads.append(threading.Thread(target=self.probe))
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def shop(self, product: str) -> None:
        while not self.stopping.is_set():
            for method, path, body in [
                ("POST", "/cart/demo", {"product_id": product, "quantity": 1}),
                ("GET", "/cart/demo", None),
            ]:
                sent = time.monotonic()
                try:
                    answer = self.server.request(
                        method, path, token=self.token, body=body, timeout=20
                    )
                except OSError as error:
                    self.failures.append((method, repr(error)))
                    continue
                self.cart.append((sent, method, product, answer))
                time.sleep(0.3)

    def probe(self) -> None:
        while not self.stopping.is_set():
            sent = time.monotonic()
            try:
                self.health.append((sent, self.server.request("GET", "/healthz")))
            except OSError as error:
                self.failures.append(("healthz", repr(error)))
            time.sleep(0.2)


def survive(name: str, fault, cluster: Cluster, server: Gunicorn, token: str) -> dict:
    """Run `fault` for FAULT_SECONDS under traffic; check every bound; return
    the measured times."""
    assert server.request("DELETE", "/cart/demo", token=token).status == 204
    open_every_threads_connection(cluster, server, token)
    workers = server.worker_pids()

    with Traffic(server, token) as traffic:
        time.sleep(1)  # traffic through a healthy database first
        with fault:
            started = time.monotonic()
            ready = server.request("GET", "/readyz")
            readyz_503 = time.monotonic() - started
            readyz = [ready.status]
            while time.monotonic() - started < FAULT_SECONDS:
                time.sleep(0.5)
                readyz.append(server.request("GET", "/readyz").status)
        ended = time.monotonic()
        recovery = server.wait_until(
            lambda: server.request("GET", "/cart/demo", token=token).status == 200,
            timeout=15,
        )
        time.sleep(1)  # traffic through the recovered database

    during = [a for sent, *_, a in traffic.cart if started <= sent < ended]
    # Probes sent during the fault and until the service answered again.
    probes = [a for sent, a in traffic.health if started <= sent < ended + recovery]
    measured = {
        "cart requests during the fault": len(during),
        "their answers": dict(Counter(answer.status for answer in during)),
        "max cart answer s": max(answer.seconds for answer in during),
        "healthz probes": len(probes),
        "max healthz s": max(answer.seconds for answer in probes),
        "readyz 503 after s": readyz_503,
        "recovery s": recovery,
    }
    print(f"\n{name}: {measured}")
    assert traffic.failures == []
    assert len(during) >= CLIENTS
    assert set(measured["their answers"]) <= {200, 201, 503}
    assert measured["their answers"].get(503, 0) >= CLIENTS
    assert measured["max cart answer s"] < 5
    for answer in during:
        if answer.status == 503:
            assert answer.body["errors"][0]["code"] == "service_unavailable"
    assert {answer.status for _, answer in traffic.health} == {200}
    assert len(probes) >= FAULT_SECONDS
    assert measured["max healthz s"] < 1
    assert ready.status == 503 and readyz_503 < 2
    assert set(readyz) == {503}
    assert recovery < 1
    assert server.request("GET", "/readyz").status == 200
    assert server.worker_pids() == workers  # recovered without a restart

    # Every acknowledged add is stored; an unanswered one (503) may be too.
    stored = stored_quantities(cluster)
    for product in PRODUCTS:
        adds = [a for _, m, p, a in traffic.cart if m == "POST" and p == product]
        acknowledged = sum(1 for answer in adds if answer.status in (200, 201))
        assert acknowledged <= stored.get(product, 0) <= len(adds), product
    return measured


def test_a_network_partition_is_a_fast_503_probes_answer_and_it_heals(service):
    require_iptables()
    cluster, server, token = service
    with socket.socket() as bystander:  # another port of the loopback
        bystander.bind(("127.0.0.1", 0))
        bystander.listen()

        measured = survive("partition", partition(cluster.port), cluster, server, token)

        # Only the cluster's port was cut off, and the rules are gone.
        socket.create_connection(bystander.getsockname(), timeout=1).close()
    assert measured["recovery s"] < 1


def test_a_frozen_database_is_a_fast_503_probes_answer_and_it_heals(service):
    cluster, server, token = service
    survive("SIGSTOP", frozen(cluster), cluster, server, token)


LOAD_CONNECTIONS, LOAD_SECONDS = 256, 6


def staff_token(cluster: Cluster) -> str:
    """bootstrap_demo's staff account's token."""
    with psycopg2.connect(cluster.url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT key FROM authtoken_token t JOIN carts_user u ON u.id = t.user_id"
            " WHERE u.username = 'staff'"
        )
        row = cursor.fetchone()
        assert row is not None
        return str(row[0])


def test_load_on_a_healthy_database_is_never_refused_and_probes_answer_at_once(
    service,
):
    """A healthy database under load: every one of 256 open connections gets
    its answers (no 503 from the bulkhead: load is not a stall), and /healthz,
    on a new connection as a prober sends it, answers within 0.5 s."""
    cluster, server, _ = service
    token = staff_token(cluster)  # a front end's: no rate limit
    assert server.request("DELETE", "/cart/demo", token=token).status == 204
    log_before = len(server.log())
    statuses: Counter = Counter()
    probes: list[float] = []
    stopping = threading.Event()

    def shop(product: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        headers = {"Authorization": f"Token {token}"}
        body = json.dumps({"product_id": product, "quantity": 1})
        try:
            while not stopping.is_set():
                for method, payload in [("POST", body), ("GET", None)]:
                    connection.request(
                        method,
                        "/cart/demo",
                        body=payload,
                        headers={**headers, "Content-Type": "application/json"},
                    )
                    response = connection.getresponse()
                    response.read()
                    statuses[response.status] += 1
        finally:
            connection.close()

    shoppers = [
        threading.Thread(target=shop, args=(PRODUCTS[n % len(PRODUCTS)],))
        for n in range(LOAD_CONNECTIONS)
    ]
    for shopper in shoppers:
        shopper.start()
    time.sleep(1)  # every connection open and busy
    ends = time.monotonic() + LOAD_SECONDS
    while time.monotonic() < ends:
        answer = server.request("GET", "/healthz", timeout=5)
        assert answer.status == 200
        probes.append(answer.seconds)
        time.sleep(0.2)
    stopping.set()
    for shopper in shoppers:
        shopper.join(timeout=60)

    print(f"\nload: {dict(statuses)}, healthz max {max(probes):.3f} s")
    assert set(statuses) <= {200, 201}
    assert sum(statuses.values()) >= LOAD_CONNECTIONS
    assert len(probes) >= LOAD_SECONDS and max(probes) <= 0.5
    assert "slots for work on it are taken" not in server.log()[log_before:]
