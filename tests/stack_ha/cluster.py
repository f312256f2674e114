"""The Patroni cluster of the HA stack, as its REST API and PostgreSQL see it."""

import json
import time
import urllib.error
import urllib.request
from typing import Any

import psycopg2

from ..stack.stack import connected, port

NODES = ("pg1", "pg2")


def patroni(node: str, path: str) -> tuple[int, Any]:
    """GET a path of a node's REST API: (status, JSON body); (0, None) if down."""
    url = f"http://127.0.0.1:{port(f'{node}_api')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
    except OSError:
        return 0, None


def members() -> dict[str, dict]:
    """Each member's entry in /cluster, by name, from the first node that answers."""
    for node in NODES:
        status, body = patroni(node, "/cluster")
        if status == 200:
            return {member["name"]: member for member in body["members"]}
    return {}


def leader() -> str:
    (name,) = [name for name, m in members().items() if m["role"] == "leader"]
    return name


def synchronous_standbys() -> int:
    """Standbys the primary (through the router) streams to synchronously."""
    with connected("db") as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_replication"
            " WHERE state = 'streaming' AND sync_state = 'sync'"
        )
        (count,) = cursor.fetchone() or (0,)
        return count


def wait_replicated(timeout: float = 120) -> float:
    """Wait until both nodes run, one leading and one its synchronous standby
    with nothing to catch up on; the seconds waited."""
    started = time.monotonic()
    while True:
        roles = {m["role"]: m for m in members().values() if m["state"] == "running"}
        standby = roles.get("sync_standby")
        if "leader" in roles and standby and standby.get("lag") == 0:
            try:
                if synchronous_standbys() == 1:
                    return time.monotonic() - started
            except psycopg2.OperationalError:
                pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"no synchronous standby after {timeout} s: {members()}")
        time.sleep(0.5)


def refused_write(node: str) -> str:
    """A write on the node directly (not through the router), as the service's
    account: the name of the error it raised, or "" if it was accepted."""
    with connected(node) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (True,), f"{node} is not in recovery"
        try:
            cursor.execute("CREATE TABLE failover_probe (id int)")
        except psycopg2.Error as error:
            return type(error).__name__
        return ""
