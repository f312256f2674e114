"""Cart events (API.md, "Events"): every change of a cart writes one event in
its transaction, and the feed hands every committed event to a reader that
follows the cursor exactly once, in a total order, even when transactions
commit in another order than they wrote."""

import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg2
import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.demo import LOAFERS, MUG, SUNGLASSES
from carts.models import Cart, CartEvent, CartItem, Product, User

from .conftest import (
    add,
    database_url_for_tests,
    error_codes,
    token_client,
    wait_until,
)

WRITERS = 8
CHANGES = 100


def events_of(username: str) -> list[tuple[str, int, dict]]:
    return list(
        CartEvent.objects.filter(username=username)
        .order_by("position", "id")
        .values_list("type", "cart_version", "data")
    )


def shown_version(username: str) -> int:
    cart = Cart.objects.get(user__username=username)
    return cart.generation * 2**32 + cart.version


def assert_consecutive(versions: list[int]) -> None:
    assert versions == list(range(versions[0], versions[0] + len(versions)))


def follow(client: APIClient, after: str | None = None, **query) -> dict:
    params = {**({"after": after} if after else {}), **query}
    response = client.get("/events", params)
    assert response.status_code == 200, response.content
    return response.json()


# Transactional: a catalog edit's carts change at its commit.
@pytest.mark.django_db(transaction=True)
def test_every_change_of_a_cart_records_one_event_with_the_version_it_made(
    alice, admin_client
):
    add(alice, "alice", LOAFERS, 2)
    add(alice, "alice", LOAFERS, 1)
    put = alice.put(f"/cart/alice/items/{MUG}", {"quantity": 4}, format="json")
    assert put.status_code == 201
    assert alice.delete(f"/cart/alice/items/{MUG}").status_code == 204
    Product.objects.filter(pk=LOAFERS).update(price="1.00")  # an operator's price
    assert alice.post("/cart/alice/reprice").status_code == 200
    hold = alice.post("/cart/alice/checkout").json()["checkout"]["id"]
    assert alice.post(f"/cart/alice/checkout/{hold}/cancel").status_code == 200
    hold = alice.post("/cart/alice/checkout").json()["checkout"]["id"]
    assert alice.post(f"/cart/alice/checkout/{hold}/complete").status_code == 200
    add(alice, "alice", SUNGLASSES)
    guest = APIClient().post("/guests").json()
    guest_client = APIClient()
    guest_client.credentials(HTTP_AUTHORIZATION=f"Token {guest['token']}")
    add(guest_client, guest["user_id"], MUG)
    merge = {"guest_token": guest["token"]}
    assert alice.post("/cart/alice/merge", merge, format="json").status_code == 200
    item = CartItem.objects.get(user__username="alice", product_id=MUG)
    deleted = admin_client.post(
        f"/admin/carts/cartitem/{item.pk}/delete/", {"post": "yes"}
    )
    assert deleted.status_code == 302
    assert alice.delete("/cart/alice").status_code == 204

    events = events_of("alice")
    assert [event_type for event_type, _, _ in events] == [
        "cart.item_added",
        "cart.item_added",
        "cart.item_updated",
        "cart.item_removed",
        "cart.catalog_changed",
        "cart.repriced",
        "cart.checkout_held",
        "cart.checkout_released",
        "cart.checkout_held",
        "cart.checkout_completed",
        "cart.item_added",
        "cart.merged",
        "cart.edited",
        "cart.cleared",
    ]
    versions = [version for _, version, _ in events]
    assert_consecutive(versions)
    assert versions[-1] == shown_version("alice")
    data = [event_data for _, _, event_data in events]
    assert data[0] == {"product_id": LOAFERS, "quantity_added": 2, "quantity": 2}
    assert data[1] == {"product_id": LOAFERS, "quantity_added": 1, "quantity": 3}
    assert data[2] == {"product_id": MUG, "quantity": 4}
    assert data[3] == {"product_id": MUG}
    assert data[4] == {"product_ids": [LOAFERS]}
    assert data[7] == {"checkout_id": data[6]["checkout_id"], "reason": "cancelled"}
    assert data[11]["from"] == guest["user_id"] and data[11]["to"] == "alice"
    assert data[11]["merged"] == [{"product_id": MUG, "quantity": 1}]
    assert data[12] == {"source": "admin"}
    assert data[13] == {"product_ids": [SUNGLASSES]}
    # The guest's cart records its side of the merge too.
    guest_events = events_of(guest["user_id"])
    assert [event_type for event_type, _, _ in guest_events] == [
        "cart.item_added",
        "cart.merged",
    ]
    assert_consecutive([version for _, version, _ in guest_events])


@pytest.mark.django_db
def test_expiry_and_an_expired_hold_record_events_and_old_events_go(alice, settings):
    add(alice, "alice", LOAFERS)
    settings.CART_CHECKOUT_TTL = 0
    assert alice.post("/cart/alice/checkout").status_code == 201
    guest = APIClient().post("/guests").json()
    Cart.objects.filter(user__username=guest["user_id"]).update(
        updated_at=timezone.now() - timedelta(days=31)
    )
    old = CartEvent.objects.create(
        position=1,
        user_pk=0,
        username="long-gone",
        type="cart.cleared",
        cart_version=1,
        occurred_at=timezone.now() - timedelta(days=8),
    )
    guest_version = shown_version(guest["user_id"])
    call_command("purge_carts", verbosity=0)

    assert [event[0] for event in events_of("alice")][-1] == "cart.checkout_released"
    assert events_of("alice")[-1][2]["reason"] == "expired"
    # The version a bump would have given the deleted cart.
    assert events_of(guest["user_id"]) == [
        ("cart.expired", guest_version + 1, {"deleted": True})
    ]
    assert not User.objects.filter(username=guest["user_id"]).exists()
    assert not CartEvent.objects.filter(pk=old.pk).exists()
    assert_consecutive([event[1] for event in events_of("alice")])


@pytest.mark.django_db
def test_a_refused_change_writes_no_event(alice):
    add(alice, "alice", LOAFERS)
    before = events_of("alice")
    refused = [
        alice.post("/cart/alice", {"product_id": "NOPE"}, format="json"),
        alice.post(
            "/cart/alice", {"product_id": LOAFERS, "quantity": 10**6}, format="json"
        ),
        alice.post(
            "/cart/alice", {"product_id": MUG}, format="json", HTTP_IF_MATCH='"1"'
        ),
        alice.delete(f"/cart/alice/items/{MUG}"),
    ]
    assert [response.status_code for response in refused] == [404, 409, 412, 404]
    hold = alice.post("/cart/alice/checkout")
    assert hold.status_code == 201
    held = alice.post("/cart/alice", {"product_id": MUG}, format="json")
    assert error_codes(held) == ["cart_in_checkout"]
    assert events_of("alice") == [*before, events_of("alice")[-1]]
    assert events_of("alice")[-1][0] == "cart.checkout_held"


@pytest.mark.django_db(transaction=True)
def test_a_change_that_misses_its_deadline_writes_no_event(live_service, catalog):
    user = User.objects.create(username="alice")
    token = Token.objects.create(user=user)
    answer = live_service.request(
        "POST", "/cart/alice", token=token.key, body={"product_id": LOAFERS}
    )
    assert answer.status == 201
    holder = psycopg2.connect(database_url_for_tests())
    try:
        with holder.cursor() as cursor:  # another writer holds the cart
            cursor.execute(
                "SELECT 1 FROM carts_cart WHERE user_id = %s FOR UPDATE", [user.pk]
            )
            answer = live_service.request(
                "POST", "/cart/alice", token=token.key, body={"product_id": MUG}
            )
    finally:
        holder.rollback()
        holder.close()
    assert answer.status == 503, answer.body
    assert [event[0] for event in events_of("alice")] == ["cart.item_added"]
    assert cart_products("alice") == [LOAFERS]


def cart_products(username: str) -> list[str]:
    return list(
        CartItem.objects.filter(user__username=username).values_list(
            "product_id", flat=True
        )
    )


# Transactional: the feed shows only committed events.
@pytest.mark.django_db(transaction=True)
def test_the_feed_is_for_staff_and_event_readers_and_refuses_bad_queries(
    alice, staff, make_client
):
    add(alice, "alice", LOAFERS)
    assert alice.get("/events").status_code == 403
    reader = make_client("analytics")
    reader.user.user_permissions.add(
        Permission.objects.get(codename="read_cart_events")
    )
    page = follow(reader)
    assert [event["type"] for event in page["events"]] == ["cart.item_added"]
    event = page["events"][0]
    assert set(event) == {
        "id",
        "type",
        "user_id",
        "cart_version",
        "occurred_at",
        "data",
    }
    assert event["user_id"] == "alice" and event["occurred_at"].endswith("Z")
    assert follow(staff, page["next"]) == {"events": [], "next": page["next"]}
    for query in [{"after": "x"}, {"after": "1-"}, {"limit": 0}, {"wait": 31}]:
        response = staff.get("/events", query)
        assert response.status_code == 400, query
    assert error_codes(staff.get("/events", {"after": "nope"})) == ["invalid_cursor"]


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_wakes_when_an_event_commits(alice, staff):
    add(alice, "alice", LOAFERS)
    after = follow(staff)["next"]
    poller = token_client(staff)
    with ThreadPoolExecutor(max_workers=1) as pool:

        def long_poll() -> tuple[dict, float]:
            started = time.monotonic()
            try:
                return follow(poller, after, wait=30), time.monotonic() - started
            finally:
                connection.close()

        polled = pool.submit(long_poll)
        wait_until(listening, "the long poll LISTENs")
        add(alice, "alice", MUG)
        page, seconds = polled.result(timeout=60)
    assert [event["data"]["product_id"] for event in page["events"]] == [MUG]
    # Woken by the commit's notification, not by the end of its wait (nor
    # by the re-read every 5 s: the add came after the waiter registered).
    assert seconds < 4
    assert not listening()  # the waiter is gone with its poll


def listening() -> bool:
    """A long poll has registered as a waiter (changes notify only then)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM carts_feed_waiter")
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_follower_sees_every_event_once_though_commits_come_out_of_order(
    make_client, catalog, staff, pause, in_thread
):
    writers = [make_client(f"writer-{index}") for index in range(WRITERS)]
    late = make_client("late")
    # The late writer's transaction writes its event, then waits: every
    # writer's events come after it by id, and commit before it.
    paused = pause("carts_cartevent", "INSERT", "NEW.username = 'late'")
    late_add = in_thread(lambda: add(token_client(late), "late", LOAFERS))
    wait_until(paused.paused, "the late add is paused after its event")

    seen: list[dict] = []
    done = threading.Event()

    def consume() -> None:
        # Until the writers are done and a page after that is empty.
        reader, after = token_client(staff), None
        try:
            while True:
                finished = done.is_set()
                page = follow(reader, after, limit=50)
                seen.extend(page["events"])
                after = page["next"]
                if not page["events"]:
                    if finished:
                        return
                    time.sleep(0.01)
        finally:
            connection.close()

    def write(index: int) -> None:
        client, user_id = token_client(writers[index]), f"writer-{index}"
        try:
            for change in range(CHANGES):
                if change % 10 == 9:
                    assert client.delete(f"/cart/{user_id}").status_code == 204
                else:
                    add(client, user_id, [LOAFERS, MUG, SUNGLASSES][change % 3])
            if index == 0:  # the late commit comes while others still write
                paused.release()
        finally:
            connection.close()

    consumer = in_thread(consume)
    try:
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            list(pool.map(write, range(WRITERS)))
        late_add.result(timeout=60)
    finally:
        paused.release()
        done.set()
    consumer.result(timeout=120)

    ids = [event["id"] for event in seen]
    assert len(ids) == len(set(ids)), "an event was seen twice"
    assert set(ids) == {
        str(pk) for pk in CartEvent.objects.values_list("pk", flat=True)
    }
    late_event = CartEvent.objects.get(username="late")
    assert late_event.id < max(int(event_id) for event_id in ids)
    versions = defaultdict(list)
    for event in seen:
        versions[event["user_id"]].append(event["cart_version"])
    assert len(versions) == WRITERS + 1
    for user_versions in versions.values():
        assert_consecutive(user_versions)


@pytest.mark.django_db(transaction=True)
def test_a_change_whose_transaction_began_first_still_follows_in_the_feed(
    alice, staff, pause, in_thread
):
    # The later change's transaction takes its id first (storing its
    # Idempotency-Key), then waits while an earlier change commits.
    paused = pause("carts_idempotencyrecord", "INSERT", None)
    keyed = in_thread(
        lambda: token_client(alice).post(
            "/cart/alice",
            {"product_id": MUG},
            format="json",
            HTTP_IDEMPOTENCY_KEY="later-change",
        )
    )
    wait_until(paused.paused, "the keyed add is paused after storing its key")
    add(alice, "alice", LOAFERS)
    paused.release()
    assert keyed.result(timeout=60).status_code == 201

    page = follow(staff)
    products = [event["data"]["product_id"] for event in page["events"]]
    versions = [event["cart_version"] for event in page["events"]]
    assert products == [LOAFERS, MUG]
    assert_consecutive(versions)
