"""gunicorn's threaded worker, answering the liveness probe in its main thread.

A gthread worker hands every request to one of its few threads. Cart requests
may hold all of them: waiting for a slot of the bulkhead, or for a database
that stalls (docs/reliability.md). A probe queued behind them would wait too,
and a liveness probe that waits is how a healthy process gets restarted. So
the worker's main thread, which accepts connections and never runs a
request, answers `GET /healthz` itself when it is the first request of a new
connection, complete in the first bytes that arrived, with nothing after
it: the answer is `200 {"status": "ok"}` and the connection is closed.
Anything else (a request on a kept-alive connection, a body, a pipelined
request, TLS) goes to the threads as before, so Django's /healthz still
answers what this does not.
"""

import re
import selectors
import socket
import time
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker  # type: ignore[import-untyped]

# The request line and headers of a probe, and where they end.
_PROBE = re.compile(rb"(GET|HEAD) /healthz/? HTTP/1\.[01]\r\n(?:[^\r\n]*\r\n)*?\r\n")
_PEEK_BYTES = 4096
_BODY = b'{"status": "ok"}'
_HEADERS = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: %d\r\n"
    b"Cache-Control: no-store\r\n"
    b"X-Content-Type-Options: nosniff\r\n"
    b"Connection: close\r\n\r\n" % len(_BODY)
)


def probe_answer(first_bytes: bytes) -> bytes | None:
    """What to send back when `first_bytes` (all that arrived on a new
    connection) are exactly one liveness probe; None for anything else."""
    probe = _PROBE.match(first_bytes)
    if probe is None or probe.end() != len(first_bytes):
        return None
    headers = first_bytes[: probe.end()].lower()
    if b"\ncontent-length:" in headers or b"\ntransfer-encoding:" in headers:
        return None
    return _HEADERS + (b"" if probe[1] == b"HEAD" else _BODY)


class ProbeAnsweringWorker(ThreadWorker):
    """`gthread` plus the probe's answer in the main thread (see the module)."""

    alive: bool  # gunicorn's Worker sets it

    def enqueue_req(self, conn: TConn) -> None:
        if conn.initialized or self.cfg.is_ssl:
            super().enqueue_req(conn)
            return
        try:
            first_bytes = conn.sock.recv(_PEEK_BYTES, socket.MSG_PEEK)
        except BlockingIOError:
            if conn.data_ready:  # readable, yet nothing: let a thread see why
                super().enqueue_req(conn)
            else:  # the request is on its way: wait in the poller, no thread
                self._wait_for_first_bytes(conn)
            return
        except OSError:
            first_bytes = b""
        answer = probe_answer(first_bytes) if first_bytes else None
        if answer is None:
            conn.data_ready = True
            super().enqueue_req(conn)
            return
        try:
            conn.sock.recv(len(first_bytes))  # consumed: the close is graceful
            conn.sock.send(answer)  # a few hundred bytes: one send fits
        except OSError:
            pass  # the prober went away
        self.nr_conns -= 1
        conn.close()
        # A request served, as gthread counts them for max_requests.
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False

    def _wait_for_first_bytes(self, conn: TConn) -> None:
        """As gthread does for a connection whose request is slow to come."""
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock,
            selectors.EVENT_READ,
            partial(self.on_pending_socket_readable, conn),
        )
