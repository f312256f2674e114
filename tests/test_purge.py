"""manage.py purge_carts (API.md v2, "Expiry") on real PostgreSQL transactions."""

import re
import threading
import time
from datetime import timedelta
from io import StringIO

import psycopg2
import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.cart import expiry
from carts.cart.owners import NewOwner, owner_cart_ensure
from carts.models import Cart, CartEvent, CartItem, Checkout, IdempotencyRecord, User
from devtools.liveservice import Gunicorn

from .conftest import cart_lines, database_url_for_tests

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)


def owner(username: str, *, guest: bool = False, lines: int = 1, age=DAY * 0):
    """A user with a cart of `lines` lines, last changed `age` ago."""
    kind = NewOwner.GUEST if guest else NewOwner.SHOPPER
    user_id = owner_cart_ensure(user_id=username, new_owner=kind)
    Token.objects.get_or_create(user_id=user_id)
    for product_id in ["L9ECAV7KIM", "OLJCESPC7Z"][:lines]:
        CartItem.objects.create(user_id=user_id, product_id=product_id, quantity=2)
    Cart.objects.filter(user_id=user_id).update(updated_at=timezone.now() - age)
    return user_id


def merged(username: str, into: str, age) -> None:
    Cart.objects.filter(user__username=username).update(
        merged_into=User.objects.get(username=into), merged_at=timezone.now() - age
    )


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_carts", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def carts_of_every_age(catalog):
    owner("fresh-guest", guest=True, age=DAY)
    owner("stale-guest", guest=True, age=DAY * 31)
    owner("alice", age=DAY * 91)  # a stale shopper: emptied, kept
    owner("bob", age=DAY * 89)
    owner("carol", lines=0, age=DAY * 200)  # empty: nothing to do
    owner("merged-long-ago", guest=True, lines=0, age=DAY * 9)
    merged("merged-long-ago", "bob", age=DAY * 8)
    owner("merged-yesterday", guest=True, lines=0, age=DAY)
    merged("merged-yesterday", "bob", age=DAY)


def usernames() -> set[str]:
    return set(User.objects.values_list("username", flat=True))


def test_purge_removes_exactly_the_expired(carts_of_every_age):
    alice_version = Cart.objects.get(user__username="alice").version

    output = purge()

    assert output.strip() == (
        "purge_carts removed: 1 stale guests, 1 merged guests, "
        "1 stale shopper carts emptied, 0 expired idempotency records, "
        "0 old checkouts"
    )
    assert usernames() == {
        "fresh-guest",
        "alice",
        "bob",
        "carol",
        "merged-yesterday",
    }
    assert not Token.objects.filter(user__username__startswith="stale").exists()
    assert cart_lines("alice") == []
    assert Cart.objects.get(user__username="alice").version == alice_version + 1
    assert cart_lines("bob") == [("L9ECAV7KIM", 2)]
    assert cart_lines("fresh-guest") == [("L9ECAV7KIM", 2)]
    assert purge().strip().startswith("purge_carts removed: 0 stale guests, 0 merged")


def test_dry_run_counts_and_changes_nothing(carts_of_every_age):
    before = usernames()

    output = purge("--dry-run")

    assert "would remove: 1 stale guests, 1 merged guests, 1 stale shopper" in output
    assert usernames() == before
    assert cart_lines("alice") == [("L9ECAV7KIM", 2)]


def test_user_carts_never_expire_with_a_ttl_of_zero(carts_of_every_age, settings):
    settings.CART_USER_CART_TTL = 0

    assert "0 stale shopper carts emptied" in purge()
    assert cart_lines("alice") == [("L9ECAV7KIM", 2)]


def test_purge_works_in_batches_while_adds_run(catalog, make_client):
    for n in range(45):
        owner(f"old-guest-{n}", guest=True, age=DAY * 40)
    shoppers = [make_client(f"shopper{n}") for n in range(4)]
    stop = threading.Event()
    answers: list[int] = []

    def keep_adding(client):
        try:
            while not stop.is_set():
                response = APIClient().post(
                    f"/cart/{client.user.username}",
                    {"product_id": "L9ECAV7KIM"},
                    format="json",
                    HTTP_AUTHORIZATION=f"Token {client.token}",
                )
                answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=keep_adding, args=(c,)) for c in shoppers]
    for thread in threads:
        thread.start()
    try:
        output = purge("--batch-size", "10")
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert "removed: 45 stale guests" in output
    assert not User.objects.filter(username__startswith="old-guest").exists()
    assert set(answers) <= {200, 201} and len(answers) >= 4
    added = sum(quantity for n in range(4) for _, quantity in cart_lines(f"shopper{n}"))
    assert added == len(answers)


def test_pauses_between_batches_change_nothing_of_what_goes(carts_of_every_age):
    assert "removed: 1 stale guests, 1 merged guests" in purge(
        "--batch-size", "1", "--pause", "0.01"
    )


def test_jobs_at_once_purge_what_one_job_purges(carts_of_every_age):
    for n in range(6):
        owner(f"old-guest{n}", guest=True, age=DAY * 40)

    output = purge("--batch-size", "1", "--jobs", "3")

    assert "removed: 7 stale guests, 1 merged guests" in output
    assert not User.objects.filter(username__startswith="old-guest").exists()
    assert User.objects.filter(username="fresh-guest").exists()


@pytest.mark.parametrize("jobs", ["0", "9"])
def test_jobs_out_of_range_are_refused(jobs):
    with pytest.raises(CommandError, match="--jobs must be 1 to 8"):
        purge("--jobs", jobs)


@pytest.mark.parametrize("pause", ["-1", "61", "nan"])
def test_a_pause_out_of_range_is_refused(pause):
    with pytest.raises(CommandError, match="--pause must be 0 to 60 seconds"):
        purge("--pause", pause)


def test_a_cart_being_written_during_the_purge_is_kept(catalog):
    user_id = owner("busy-guest", guest=True, age=DAY * 40)
    owner("idle-guest", guest=True, age=DAY * 40)
    # Another connection is in the middle of a write to the busy cart: it
    # holds the cart's lock, and will commit a fresh change.
    writer = psycopg2.connect(database_url_for_tests())
    try:
        with writer.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM carts_cart WHERE user_id = %s FOR UPDATE", [user_id]
            )
            output = purge()
            cursor.execute(
                "UPDATE carts_cart SET updated_at = now() WHERE user_id = %s",
                [user_id],
            )
        writer.commit()
    finally:
        writer.close()

    assert "removed: 1 stale guests" in output
    assert usernames() >= {"busy-guest"}
    assert "idle-guest" not in usernames()
    assert purge().startswith("purge_carts removed: 0 stale guests")


@pytest.fixture
def guest_with_every_kind_of_row(catalog):
    """A stale guest that every table with a key to users holds a row of, and
    a fresh guest merged into it."""
    user_id = owner("stale-guest", guest=True, lines=2, age=DAY * 40)
    guest = User.objects.get(pk=user_id)
    IdempotencyRecord.objects.create(
        caller=guest, key="k1", request_hash="0" * 64, status=200
    )
    Checkout.objects.create(
        user=guest,
        state=Checkout.State.COMPLETED,
        expires_at=timezone.now() - DAY,
        completed_at=timezone.now() - DAY,
        currency="USD",
    )
    LogEntry.objects.create(user=guest, object_repr="a cart", action_flag=ADDITION)
    guest.groups.add(Group.objects.create(name="testers"))
    guest.user_permissions.add(Permission.objects.get(codename="view_cart"))
    owner("merged-guest", guest=True, lines=0, age=DAY)
    merged("merged-guest", "stale-guest", age=DAY)
    return user_id


def test_a_purged_guest_leaves_no_row_behind(guest_with_every_kind_of_row):
    user_id = guest_with_every_kind_of_row

    assert "removed: 1 stale guests" in purge()

    assert not User.objects.filter(pk=user_id).exists()
    for model, key in [
        (CartItem, "user_id"),
        (Token, "user_id"),
        (IdempotencyRecord, "caller_id"),
        (Checkout, "user_id"),
        (LogEntry, "user_id"),
        (User.groups.through, "user_id"),
        (User.user_permissions.through, "user_id"),
        (Cart, "user_id"),
    ]:
        assert not model.objects.filter(**{key: user_id}).exists(), model
    assert Group.objects.filter(name="testers").exists()
    # A cart merged into the guest keeps its row, as Django's SET_NULL did.
    assert Cart.objects.get(user__username="merged-guest").merged_into_id is None
    # The expiry is recorded (carts.cart.aggregate, rule 2), and outlives it.
    assert list(
        CartEvent.objects.filter(user_pk=user_id).values_list("type", "data")
    ) == [(expiry.EXPIRED, {"deleted": True})]


def test_the_purge_reaches_every_foreign_key_to_users():
    """A table given a key to carts_user later needs its statement in
    _DELETE_OWNERS, or the purge of its guests fails on the key."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, a.attname
            FROM pg_constraint c JOIN pg_attribute a
              ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
            WHERE c.contype = 'f' AND c.confrelid = 'carts_user'::regclass
            """
        )
        foreign_keys = set(cursor.fetchall())
    statements = {
        re.match(r"(?:DELETE FROM|UPDATE) (\w+) .*WHERE (\w+) ", statement).groups()
        for statement in expiry._DELETE_OWNERS
    }

    assert statements - {("carts_user", "id")} == foreign_keys


@pytest.fixture
def single_connection_service(transactional_db, tmp_path):
    """The service in a process of its own with one connection (1 worker,
    1 thread): every request after the first meets its warm token cache."""
    env = {"GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "1"}
    with Gunicorn(database_url_for_tests(), tmp_path, workers=1, env=env) as server:
        yield server


def test_the_service_refuses_a_purged_guests_token_at_once(
    single_connection_service, catalog
):
    """The purge deletes by SQL: the triggers' NOTIFY is all that tells the
    service's connection, in another process, to forget the cached token."""
    server = single_connection_service
    owner("stale-guest", guest=True, age=DAY * 40)
    token = Token.objects.get(user__username="stale-guest").key

    def read() -> int:
        return server.request("GET", "/cart/stale-guest", token=token).status

    assert [read(), read()] == [200, 200]  # the second from the cache

    assert "removed: 1 stale guests" in purge()

    # Bounded, not timed: the notification is on its way once purge() returns.
    deadline = time.monotonic() + 5
    while read() == 200 and time.monotonic() < deadline:
        time.sleep(0.05)  # under the throttle's rate
    assert [read() for _ in range(3)] == [401, 401, 401]
