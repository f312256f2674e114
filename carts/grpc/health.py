"""grpc.health.v1 from the database: SERVING only while it answers in time.

A background thread asks the database `SELECT 1` every PROBE_INTERVAL seconds
and sets the status of "" and the cart service from the answer; a probe that
fails, or takes longer than ANSWER_DEADLINE (also one still waiting on a
stalled server), makes them NOT_SERVING. Health checks themselves never touch
the database, so they answer at once, even when it is down.
"""

import logging
import queue
import threading
import time

from django.db import DatabaseError, close_old_connections, connection
from grpc_health.v1 import health, health_pb2

logger = logging.getLogger(__name__)

ANSWER_DEADLINE = 0.5  # seconds (docs/API.md)
PROBE_INTERVAL = 1.0  # seconds

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def database_answer_seconds() -> float | None:
    """How long `SELECT 1` took, or None if the database refused it."""
    started = time.perf_counter()
    close_old_connections()  # a connection broken by an earlier probe is replaced
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return None
    return time.perf_counter() - started


class DatabaseHealth:
    """Keeps `servicer`'s status for `services` in step with the database."""

    def __init__(self, servicer: health.HealthServicer, services: list[str]):
        self.servicer = servicer
        self.services = services
        self.serving: bool | None = None
        self._stop = threading.Event()
        # The probe runs on a thread of its own, so that a stalled database
        # delays the verdict by ANSWER_DEADLINE at most (the probe itself ends
        # by DATABASE_QUERY_TIMEOUT). It holds no bulkhead slot: calls that
        # fill them must not make a database that answers look down.
        self._questions: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._answers: queue.SimpleQueue[float | None] = queue.SimpleQueue()
        self._probe_waiting = False
        threading.Thread(
            target=self._probe, name="grpc-health-probe", daemon=True
        ).start()

    def start(self) -> None:
        """Probe once (the status is known before the server serves), then
        go on every PROBE_INTERVAL in the background."""
        self.check()
        threading.Thread(target=self._run, name="grpc-health", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> bool:
        if not self._probe_waiting:
            self._questions.put(True)
            self._probe_waiting = True
        try:
            seconds = self._answers.get(timeout=ANSWER_DEADLINE)
            self._probe_waiting = False
        except queue.Empty:
            seconds = None
        serving = seconds is not None and seconds <= ANSWER_DEADLINE
        self._set(serving)
        return serving

    def _probe(self) -> None:
        while self._questions.get():
            self._answers.put(database_answer_seconds())

    def _run(self) -> None:
        while not self._stop.wait(PROBE_INTERVAL):
            self.check()

    def _set(self, serving: bool) -> None:
        if serving == self.serving:
            return
        if self.serving is not None:
            logger.warning(
                "Database %s: gRPC health %s",
                "answers" if serving else "does not answer within 500 ms",
                "SERVING" if serving else "NOT_SERVING",
            )
        self.serving = serving
        for service in self.services:
            self.servicer.set(service, SERVING if serving else NOT_SERVING)
