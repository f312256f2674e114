"""Real webhook receivers for tests/test_webhooks*.py and tests/stack: HTTP
servers on free ports of 127.0.0.1, in threads, that verify every request's
signature with the Standard Webhooks library, as a consumer would. No
Django here (tests/stack has none)."""

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

from standardwebhooks import Webhook, WebhookVerificationError

from devtools.pgcluster import free_port


class Received(NamedTuple):
    webhook_id: str
    event: dict


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # A backlog for every deliverer's connections at once (default 5).
    request_queue_size = 128


class Receiver:
    """`with Receiver(secret) as receiver:` serves on `receiver.url` until
    the end; `answer`: the status it answers (None: never answers), after
    the first `hang_first` requests, which it never answers;
    `stop()` really closes its port (connections refused), `start()` opens
    it again; `hold()` keeps requests waiting until `release()`."""

    def __init__(self, secret: str, *, answer: int | None = 200, hang_first: int = 0):
        self.secret = secret
        self.answer = answer
        self.hang_first = hang_first
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
                    hangs = len(receiver.received) <= receiver.hang_first
                receiver.released.wait()
                if hangs or receiver.answer is None:
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
