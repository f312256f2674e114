"""Every wait for PostgreSQL bounded, and a bulkhead so that stuck requests
never hold every thread (docs/reliability.md).

Deadline: psycopg2 runs in "green" mode (`install()`): instead of blocking in
libpq, every round trip (connecting, a query, a commit) waits in
`wait_for_server`, which polls the socket until a deadline: the connect
timeout for a new connection, DATABASE_QUERY_TIMEOUT for anything else, or
less inside `database_call(timeout=...)`. When it passes, the connection is
closed (psycopg2 does so when the wait fails) and the caller gets an
OperationalError, which the API answers with 503. This bounds what keepalives
and tcp_user_timeout cannot: a server that is stopped, or a peer whose kernel
still acknowledges every packet.

Bulkhead: `database_call()` marks a unit of work (an HTTP request, a gRPC
call). From its first use of the database to its end it holds one of
DATABASE_BULKHEAD slots of the process. When every slot is taken it waits for
one (at most DATABASE_BULKHEAD_WAIT): while the database answers, slots free
up within milliseconds, also when it is merely slow under load. Once a slot
holder has waited DATABASE_STALL_AFTER for an answer that has not arrived on
its socket (one that has arrived only waits for its own thread to run), the
database is stalled rather than busy, and new work is refused at once
(`DatabaseBusy`, another 503) instead of queueing behind the stuck ones, so the
threads left over keep answering probes and refusals.

The PostgreSQL backend (carts.database.postgresql) calls `admit()` before each use
of its connection; outside `database_call()` nothing is admitted or refused.
"""

import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg2
from django.conf import settings
from django.core.signals import setting_changed
from django.db import OperationalError
from django.dispatch import receiver
from psycopg2 import extensions


class DatabaseTimeout(psycopg2.OperationalError):
    """The server did not answer within the deadline; the connection is closed."""


class DatabaseBusy(OperationalError):
    """Refused before touching the database: it is not answering the work
    already waiting for it."""


class _ThreadState:
    """What this thread is doing with the database; the bulkhead reads the
    `waiting_since` of other threads' states."""

    depth = 0  # nested database_call() blocks
    timeout: float | None = None  # the tightest database_call(timeout=...)
    admitted = False  # holds a bulkhead slot
    connect_timeout: float | None = None  # set while a connection is opened
    waiting_since: float | None = None  # in wait_for_server since (monotonic)
    waiting_on: tuple[int, int] | None = None  # (socket, poll events) meanwhile


class _Local(threading.local):
    def __init__(self) -> None:
        self.state = _ThreadState()


_local = _Local()


class Bulkhead:
    """At most `slots` units of work use the database at once; see the module.

    A unit that finds every slot taken waits for one, at most `max_wait`
    seconds, but not at all once a holder has waited `stall_after` seconds for
    the server: a busy database frees slots, a stalled one does not."""

    def __init__(self, slots: int, stall_after: float, max_wait: float):
        self.slots = slots
        self.stall_after = stall_after
        self.max_wait = max_wait
        self._changed = threading.Condition()
        self._holders: set[_ThreadState] = set()

    def acquire(self, state: _ThreadState) -> None:
        with self._changed:
            give_up_at = time.monotonic() + self.max_wait
            while len(self._holders) >= self.slots:
                stalled_at = self._stalled_at(default=give_up_at)
                remaining = min(give_up_at, stalled_at) - time.monotonic()
                if remaining <= 0:
                    raise DatabaseBusy(
                        f"The database is not answering in time: all {self.slots}"
                        " slots for work on it are taken."
                    )
                self._changed.wait(remaining)
            self._holders.add(state)

    def _stalled_at(self, *, default: float) -> float:
        """When the database counts as stalled: `stall_after` after the
        oldest wait of a holder whose answer has not arrived. A holder whose
        socket has its answer waits for its own process (a loaded machine
        runs it late), not for the server: load is not a stall."""
        # Read without their lock: a stale value only moves the decision by
        # one poll.
        waits = [
            (state.waiting_since, state.waiting_on)
            for state in self._holders
            if state.waiting_since
        ]
        now = time.monotonic()
        unanswered = [
            since
            for since, waiting_on in waits
            if since + self.stall_after > now or not _answered(waiting_on)
        ]
        return min(unanswered, default=default) + self.stall_after

    def release(self, state: _ThreadState) -> None:
        with self._changed:
            self._holders.discard(state)
            self._changed.notify()


def _answered(waiting_on: tuple[int, int] | None) -> bool:
    """Whether the server's answer a holder waits for has arrived: its socket
    has data to read. Only that: a socket may be writable, or in error,
    while the server is out of reach."""
    if waiting_on is None or waiting_on[1] != select.POLLIN:
        return False
    poller = select.poll()
    poller.register(*waiting_on)
    return any(events & select.POLLIN for _, events in poller.poll(0))


@cache
def bulkhead() -> Bulkhead:
    """This process's bulkhead, sized by the settings."""
    return Bulkhead(
        settings.DATABASE_BULKHEAD,
        stall_after=settings.DATABASE_STALL_AFTER,
        max_wait=settings.DATABASE_BULKHEAD_WAIT,
    )


@receiver(setting_changed)
def _resize_bulkhead(*, setting: str, **kwargs: Any) -> None:
    if setting in (
        "DATABASE_BULKHEAD",
        "DATABASE_BULKHEAD_WAIT",
        "DATABASE_STALL_AFTER",
    ):
        bulkhead.cache_clear()


@contextmanager
def database_call(timeout: float | None = None) -> Iterator[None]:
    """One unit of work on the database: it holds a bulkhead slot from its first
    use of the database to its end, and each of its waits for the server lasts
    at most `timeout` seconds (default DATABASE_QUERY_TIMEOUT). Nested blocks
    share the outer one's slot and may only shorten the timeout."""
    state = _local.state
    outer_timeout = state.timeout
    if timeout is not None and (outer_timeout is None or timeout < outer_timeout):
        state.timeout = timeout
    state.depth += 1
    try:
        yield
    finally:
        state.depth -= 1
        state.timeout = outer_timeout
        if state.depth == 0 and state.admitted:
            state.admitted = False
            bulkhead().release(state)


def admit() -> None:
    """Take this thread's bulkhead slot before it uses the database, if it is
    inside database_call() and has none yet; DatabaseBusy if refused."""
    state = _local.state
    if state.depth and not state.admitted:
        bulkhead().acquire(state)
        state.admitted = True


@contextmanager
def connecting(connect_timeout: float | None) -> Iterator[None]:
    """Bound the wait for a new connection (set-up and authentication included)
    by `connect_timeout` seconds: libpq ignores its own connect_timeout in
    green mode."""
    _local.state.connect_timeout = connect_timeout
    try:
        yield
    finally:
        _local.state.connect_timeout = None


def wait_for_server(connection: extensions.connection) -> None:
    """psycopg2's wait callback: poll the connection until its round trip is
    done, or raise DatabaseTimeout at the deadline (see the module)."""
    state = _local.state
    limit = (
        settings.DATABASE_QUERY_TIMEOUT
        if state.connect_timeout is None
        else state.connect_timeout
    ) or None  # 0: no limit
    if state.timeout is not None:
        limit = state.timeout if limit is None else min(limit, state.timeout)
    started = time.monotonic()
    deadline = None if limit is None else started + limit
    state.waiting_since = started
    try:
        while True:
            polled = connection.poll()
            if polled == extensions.POLL_OK:
                return
            # The socket changes while libpq connects.
            state.waiting_on = (
                connection.fileno(),
                select.POLLIN if polled == extensions.POLL_READ else select.POLLOUT,
            )
            poller = select.poll()
            poller.register(*state.waiting_on)
            if deadline is None:
                poller.poll()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise DatabaseTimeout(f"no answer from the database within {limit:g} s")
    finally:
        state.waiting_since = state.waiting_on = None


def install() -> None:
    """Route every psycopg2 wait of this process through wait_for_server."""
    extensions.set_wait_callback(wait_for_server)
