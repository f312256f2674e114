"""The bounds on waits for the database and the bulkhead (carts.database.guard), in
this process on the test database; tests/test_database_faults.py shows them
in gunicorn against real faults."""

import select
import socket
import threading
import time

import psycopg2
import pytest
from django.db import OperationalError, connection

from cartproject import settings as project_settings
from carts.database import guard as db_guard
from carts.database.guard import Bulkhead, DatabaseBusy, _ThreadState, database_call

from .conftest import database_url_for_tests, error_codes

LOAFERS = "L9ECAV7KIM"


@pytest.fixture
def service_deadlines(settings):
    """This process's connection with the settings module's deadlines, which
    the suite's own connections relax (tests/conftest.py); a fresh one after."""
    for name in (
        "DATABASE_STATEMENT_TIMEOUT",
        "DATABASE_LOCK_TIMEOUT",
        "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT",
        "DATABASE_QUERY_TIMEOUT",
    ):
        setattr(settings, name, getattr(project_settings, name))
    connection.close()
    yield
    connection.close()


@pytest.mark.django_db(transaction=True)
def test_every_connection_has_the_server_side_timeouts(service_deadlines):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'),"
            " current_setting('lock_timeout'),"
            " current_setting('idle_in_transaction_session_timeout')"
        )
        assert cursor.fetchone() == ("2s", "1s", "10s")


@pytest.mark.django_db(transaction=True)
def test_a_round_trip_past_its_deadline_fails_and_closes_the_connection():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    stalled = connection.connection

    with (
        pytest.raises(OperationalError, match="no answer from the database"),
        database_call(timeout=0.2),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT pg_sleep(1)")

    assert stalled.closed
    connection.close()  # what the end of the request does with it
    with connection.cursor() as cursor:
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)


@pytest.mark.django_db(transaction=True)
def test_a_write_waiting_on_a_locked_row_is_a_503_and_keeps_its_connection(
    alice, service_deadlines
):
    assert (
        alice.post("/cart/alice", {"product_id": LOAFERS}, format="json").status_code
        == 201
    )
    backend = connection.connection.get_backend_pid()
    with psycopg2.connect(database_url_for_tests()) as other:
        with other.cursor() as cursor:
            cursor.execute("SELECT 1 FROM carts_cartitem FOR UPDATE")
            response = alice.post("/cart/alice", {"product_id": LOAFERS}, format="json")
        other.rollback()

    assert response.status_code == 503
    assert error_codes(response) == ["service_unavailable"]
    assert connection.connection.get_backend_pid() == backend
    added = alice.post("/cart/alice", {"product_id": LOAFERS}, format="json")
    assert (added.status_code, added.json()["quantity"]) == (200, 2)


def holder(waiting_for: float | None = None) -> _ThreadState:
    """A unit of work holding a slot, waiting on the server for so many seconds."""
    state = _ThreadState()
    if waiting_for is not None:
        state.waiting_since = time.monotonic() - waiting_for
    return state


def test_the_bulkhead_refuses_at_once_when_a_slot_holder_is_stuck():
    bulkhead = Bulkhead(slots=2, stall_after=30, max_wait=30)
    bulkhead.acquire(holder())
    bulkhead.acquire(holder(waiting_for=31))

    with pytest.raises(DatabaseBusy):
        bulkhead.acquire(holder())


def test_the_bulkhead_lets_work_wait_for_a_slot_that_frees_up():
    bulkhead = Bulkhead(slots=1, stall_after=30, max_wait=30)
    busy = holder(waiting_for=0)
    bulkhead.acquire(busy)
    releaser = threading.Timer(0.1, bulkhead.release, [busy])
    releaser.start()

    waiting = holder()
    bulkhead.acquire(waiting)  # returns once `busy` is released
    releaser.join()
    assert bulkhead._holders == {waiting}


@pytest.mark.parametrize("answer_arrived", [True, False])
def test_a_holder_whose_answer_arrived_is_late_not_stalled(answer_arrived):
    """A loaded machine may run a holder long after the server answered: its
    socket has the answer, so the database is busy, not stalled."""
    bulkhead = Bulkhead(slots=1, stall_after=0.5, max_wait=30)
    late = holder(waiting_for=31)
    server_end, client_end = socket.socketpair()
    with server_end, client_end:
        if answer_arrived:
            server_end.send(b"an answer")
        late.waiting_on = (client_end.fileno(), select.POLLIN)
        bulkhead.acquire(late)
        releaser = threading.Timer(0.1, bulkhead.release, [late])
        releaser.start()

        waiting = holder()
        if answer_arrived:
            bulkhead.acquire(waiting)  # waits for the slot, as for any busy one
            assert bulkhead._holders == {waiting}
        else:
            with pytest.raises(DatabaseBusy):
                bulkhead.acquire(waiting)
        releaser.join()


def test_the_bulkhead_gives_up_waiting_after_its_longest_wait():
    bulkhead = Bulkhead(slots=1, stall_after=30, max_wait=0.1)
    bulkhead.acquire(holder())  # holds its slot, not waiting on the server

    with pytest.raises(DatabaseBusy):
        bulkhead.acquire(holder())


def test_nested_database_calls_share_one_slot_and_only_shorten_the_timeout(
    settings, db
):
    settings.DATABASE_BULKHEAD = 1
    with database_call(timeout=5):
        connection.ensure_connection()
        with database_call(timeout=10):
            state = db_guard._local.state
            assert state.timeout == 5
            with database_call(timeout=1):
                assert state.timeout == 1
            connection.ensure_connection()  # no second slot: no refusal
        assert (state.admitted, state.timeout) == (True, 5)
        assert len(db_guard.bulkhead()._holders) == 1
    assert (state.admitted, state.timeout) == (False, None)
    assert db_guard.bulkhead()._holders == set()
