"""manage.py purge_carts (API.md v2, "Expiry") on real PostgreSQL transactions."""

import threading
from datetime import timedelta
from io import StringIO

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.cart.owners import NewOwner, owner_cart_ensure
from carts.models import Cart, CartItem, User

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
