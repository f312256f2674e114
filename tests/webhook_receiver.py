"""Real webhook receivers for tests/test_webhooks*.py: HTTP servers on free
ports of 127.0.0.1, in threads, that verify every request's signature with
the Standard Webhooks library, as a consumer would; and the delivery command
as a real process."""

import json
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

from django.db import connection
from standardwebhooks import Webhook, WebhookVerificationError

from carts.models import WebhookEndpoint
from devtools.liveservice import LiveProcess
from devtools.pgcluster import free_port

from .conftest import database_url_for_tests


class Received(NamedTuple):
    webhook_id: str
    event: dict


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # A backlog for every deliverer's connections at once (default 5).
    request_queue_size = 128


class Receiver:
    """`with Receiver(secret) as receiver:` serves on `receiver.url` until
    the end; `answer`: the status it answers (None: never answers);
    `stop()` really closes its port (connections refused), `start()` opens
    it again; `hold()` keeps requests waiting until `release()`."""

    def __init__(self, secret: str, *, answer: int | None = 200):
        self.secret = secret
        self.answer = answer
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.received: list[Received] = []
        self.refused_signatures: list[str] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.released.set()
        self.closing = threading.Event()
        self.server: Server | None = None

    def __enter__(self) -> "Receiver":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.closing.set()
        self.released.set()
        self.stop()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    event = Webhook(receiver.secret).verify(body, dict(self.headers))
                except WebhookVerificationError as error:
                    with receiver.lock:
                        receiver.refused_signatures.append(str(error))
                    self.respond(400)
                    return
                with receiver.lock:
                    receiver.received.append(
                        Received(self.headers["webhook-id"], event)
                    )
                receiver.released.wait()
                if receiver.answer is None:
                    receiver.closing.wait(60)
                    return
                self.respond(receiver.answer)

            def respond(self, status: int) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except ConnectionError:
                    pass  # the sender is gone (killed): it never hears this

            def log_message(self, format, *args) -> None:
                pass

        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def hold(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def ids(self) -> list[str]:
        with self.lock:
            return [received.webhook_id for received in self.received]

    def counts(self) -> Counter[str]:
        return Counter(self.ids())

    def wait_for(self, condition, timeout: float) -> float:
        """Poll `condition(self)` until true; seconds it took."""
        started = time.monotonic()
        while not condition(self):
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"gave up after {timeout} s: {len(self.received)} received"
                )
            time.sleep(0.05)
        return time.monotonic() - started

    def versions_by_cart(self) -> dict[str, list[int]]:
        """Each cart's versions in the order they arrived."""
        by_cart: dict[str, list[int]] = {}
        with self.lock:
            for received in self.received:
                by_cart.setdefault(received.event["user_id"], []).append(
                    received.event["cart_version"]
                )
        return by_cart


class DeliverEvents(LiveProcess):
    """`manage.py deliver_events` in a subprocess; ready when its metrics
    port answers."""

    name = "deliver_events"

    def __init__(self, database_url, directory, *, env=None):
        super().__init__(database_url, directory, env=env)
        self.env["CART_WEBHOOK_METRICS_PORT"] = str(self.port)
        self.log_path = directory / f"{self.name}-{self.port}.log"

    def command(self) -> list[str]:
        return [sys.executable, "manage.py", "deliver_events"]

    def ready(self) -> bool:
        return bool(self.metrics())

    def metrics(self) -> dict[str, float]:
        """The samples of its /metrics: {'name{labels}': value}."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        return {
            name: float(value)
            for name, _, value in (
                line.rpartition(" ") for line in text.splitlines() if line[:1] != "#"
            )
            if name
        }

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        self.started().kill()
        self.started().wait(timeout=10)


def event_body(received: Received) -> str:
    return json.dumps(received.event, sort_keys=True)


# Backoff and timeouts of seconds, not hours, for the tests.
FAST = {
    "CART_WEBHOOK_RETRY_BASE": "1s",
    "CART_WEBHOOK_RETRY_MAX": "2s",
    "CART_WEBHOOK_TIMEOUT": "1s",
    "CART_WEBHOOK_POLL_INTERVAL": "0.2",
}


def write_events(carts: int, per_cart: int, *, first_version: int = 1) -> list[int]:
    """`per_cart` events for each of `carts` carts, versions interleaved
    across the carts as concurrent shoppers write them; their ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO carts_cartevent
              (transaction_id, user_pk, username, type, cart_version, occurred_at,
               data)
            SELECT pg_current_xact_id()::text::bigint, cart, 'shopper-' || cart,
              'cart.item_added', version, now(),
              jsonb_build_object('product_id', 'P' || version)
            FROM generate_series(%s, %s) version, generate_series(1, %s) cart
            ORDER BY version, cart
            RETURNING id
            """,
            [first_version, first_version + per_cart - 1, carts],
        )
        return sorted(row[0] for row in cursor.fetchall())


def deliverer(tmp_path, **env: str) -> DeliverEvents:
    return DeliverEvents(database_url_for_tests(), tmp_path, env={**FAST, **env})


def in_order_per_cart(
    receiver: Receiver, carts: int, per_cart: int, *, repeats: bool = False
) -> None:
    """Each cart's events arrived in the order of its versions; `repeats`:
    an event may arrive again right after itself (sent again after a crash)."""
    expected = list(range(1, per_cart + 1))
    by_cart = receiver.versions_by_cart()
    if repeats:
        by_cart = {
            cart: [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
            for cart, versions in by_cart.items()
        }
    assert len(by_cart) == carts
    assert all(versions == expected for versions in by_cart.values()), by_cart


def endpoint_for(**receiver_options) -> tuple[WebhookEndpoint, Receiver]:
    """An endpoint with the secret made by default, and its receiver (not
    started yet)."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/")
    receiver = Receiver(endpoint.secret, **receiver_options)
    endpoint.url = receiver.url
    endpoint.save()
    return endpoint, receiver
