"""The events cell: how many cart events per second `manage.py deliver_events`
delivers to one webhook endpoint (bench/README.md, "Events").

A fresh endpoint points at a receiver in this process (answers 204 at once:
the cell measures the deliverer, not a slow receiver), its cursor at the end
of the feed; EVENTS outbox rows are written for as many carts (2 each, so the
per-cart order lets the deliverer's POSTs run in parallel), and one
`deliver_events --once` process sends them all. The check: every event was
received once."""

import os
import resource
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from servers import BIN, ROOT

EVENTS = 5_000
# The receiver checks no signature (tests/test_webhooks.py does).
SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldC1iZW5jaC0="

# One transaction: the outbox rows the cell delivers, 2 per cart of the
# seeded users, after the endpoint, whose cursor is the feed's end.
WRITE_EVENTS_SQL = """
    INSERT INTO carts_webhookendpoint (url, secret, event_types, active,
      description, created_at, cursor)
    SELECT %(url)s, %(secret)s, '[]', true, 'bench', now(),
      COALESCE((SELECT position || '-' || id FROM carts_cartevent
                ORDER BY position DESC, id DESC LIMIT 1), '');
    INSERT INTO carts_cartevent (position, user_pk, username, type,
      cart_version, occurred_at, data)
    SELECT pg_current_xact_id()::text::bigint, u.id, u.username,
      'cart.item_added', n, clock_timestamp(),
      jsonb_build_object('product_id', 'BENCH', 'quantity_added', 1, 'quantity', n)
    FROM (SELECT id, username FROM carts_user WHERE username LIKE 'user%%'
          ORDER BY id LIMIT %(carts)s) u, generate_series(1, 2) n
"""


class _Receiver(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append(self.headers.get("webhook-id", ""))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def events_cell(env: dict, connection) -> dict:
    _Receiver.received = []
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        with connection.cursor() as cursor:
            cursor.execute(
                WRITE_EVENTS_SQL,
                {"url": url, "secret": SECRET, "carts": EVENTS // 2},
            )
            cursor.execute("VACUUM ANALYZE carts_cartevent")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run(
            [BIN / "python", "manage.py", "deliver_events", "--once"],
            cwd=ROOT,
            env={**env, "CART_WEBHOOK_POLL_INTERVAL": "0.1"},
            check=True,
        )
        seconds = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        receiver.shutdown()
    received = _Receiver.received
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "events": EVENTS,
        "received": len(received),
        "distinct": len(set(received)),
        "seconds": seconds,
        "per_second": len(received) / seconds,
        "deliverer_cpu_ms_per_event": 1000 * cpu / max(len(received), 1),
        "concurrency": int(env.get("CART_WEBHOOK_CONCURRENCY", 8)),
        "load": os.getloadavg()[0],
        "passed": len(received) == len(set(received)) == EVENTS,
    }


def events_lines(result: dict | None) -> list[str]:
    """RESULTS.md's section for the cell, if it ran."""
    if result is None:
        return []
    return [
        "## Webhook delivery (events)",
        "",
        f"{result['events']:,} outbox events (2 for each of"
        f" {result['events'] // 2:,} carts) delivered by one `manage.py"
        " deliver_events --once` process to one endpoint, a receiver in the"
        " bench that answers 204 at once; signed (Standard Webhooks), claimed"
        " with SKIP LOCKED, in order per cart,"
        f" {result['concurrency']} POSTs at a time. Load average"
        f" {result['load']:.2f}.",
        "",
        "| events | received (distinct) | seconds | events/s"
        " | deliverer CPU ms per event | check |",
        "|--:|--:|--:|--:|--:|---|",
        f"| {result['events']:,} | {result['received']:,}"
        f" ({result['distinct']:,}) | {result['seconds']:.1f}"
        f" | {result['per_second']:,.0f}"
        f" | {result['deliverer_cpu_ms_per_event']:.2f}"
        f" | {'passed' if result['passed'] else 'FAILED'} |",
        "",
    ]
