"""Sessions of clients cut off by a partition end on the server side within
the bound the compose file sets (tcp_keepalives_* on db, tcp_keep* in
PgBouncer): 10 s idle, then 3 probes 5 s apart."""

import socket
import time
from pathlib import Path

import psycopg2
import pytest

from devtools.netfilter import partition, require_iptables

from .stack import connected, database_url, port, record

pytestmark = [pytest.mark.stack, pytest.mark.netfilter]

BOUND_SECONDS = 10 + 3 * 5
SLACK_SECONDS = 5  # the kernel's keepalive timer and the sampling
CLIENTS = 4


def local_port(connection) -> int:
    """The client's own port of a psycopg2 connection."""
    with socket.socket(fileno=socket.dup(connection.fileno())) as sock:
        return sock.getsockname()[1]


def server_ends(server_port: int) -> set[int]:
    """Client ports of the established TCP connections that `server_port`
    accepted on the loopback (every container shares the host's network)."""
    ends = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if state == "01" and int(local.split(":")[1], 16) == server_port:
            ends.add(int(remote.split(":")[1], 16))
    return ends


def backends(pids: set[int]) -> set[int]:
    with connected("db") as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)]
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_the_sessions_of_clients_cut_off_end_within_the_keepalive_bound():
    """CLIENTS connections straight to PostgreSQL and CLIENTS through
    PgBouncer, then every packet of theirs dropped while they stay open:
    nothing tells either server they are gone but its keepalives."""
    require_iptables()
    servers = ("db", "pgbouncer")
    clients = {
        via: [
            psycopg2.connect(database_url(via), connect_timeout=10)
            for _ in range(CLIENTS)
        ]
        for via in servers
    }
    try:
        pids = set()  # the sessions of the clients of db
        for via in servers:
            for client in clients[via]:
                client.autocommit = True  # idle, in no transaction
                with client.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    if via == "db":
                        pids.add((cursor.fetchone() or (0,))[0])
        ports = {via: {local_port(c) for c in clients[via]} for via in servers}
        for via in servers:
            assert ports[via] <= server_ends(port(via))

        gone_after: dict[str, float] = {}
        with partition(*ports["db"], *ports["pgbouncer"]):
            started = time.monotonic()
            while len(gone_after) < len(servers):
                seconds = time.monotonic() - started
                for via in servers:
                    left = ports[via] & server_ends(port(via))
                    if via == "db" and not left:
                        left = backends(pids)
                    if not left and via not in gone_after:
                        gone_after[via] = seconds
                assert seconds < BOUND_SECONDS + SLACK_SECONDS, (
                    f"after {seconds:.0f} s, gone only from {sorted(gone_after)}"
                )
                time.sleep(0.5)
    finally:
        for client in [*clients["db"], *clients["pgbouncer"]]:
            client.close()

    record(
        f"partition: {CLIENTS} clients each of PostgreSQL and PgBouncer cut off;"
        f" their sessions gone after {gone_after['db']:.1f} s and"
        f" {gone_after['pgbouncer']:.1f} s (bound {BOUND_SECONDS} s)"
    )
    # Keepalives ended them, not anything sooner.
    assert min(gone_after.values()) >= BOUND_SECONDS - SLACK_SECONDS
