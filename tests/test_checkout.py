"""Checkout-ready carts (API.md v3, "Prices and warnings", "Checkout"): the
price as added, warnings, reprice, and the hold that nothing can change
under a payment, through HTTP on real PostgreSQL."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from carts.demo import LOAFERS
from carts.models import Cart, Checkout, Product

from .conftest import add, cart_lines, concurrently, error_codes, token_client

MUG, SUNGLASSES = "6E92ZMYYFZ", "OLJCESPC7Z"


def reprice_product(product_id: str, price: str) -> None:
    """An operator's price change (the ORM's save, as the admin's)."""
    product = Product.objects.get(pk=product_id)
    product.price = Decimal(price)
    product.save()


def new_guest() -> tuple[str, str]:
    created = APIClient().post("/guests").json()
    return created["user_id"], created["token"]


def hold(client, user_id: str = "alice", **headers):
    response = client.post(f"/cart/{user_id}/checkout", **headers)
    assert response.status_code == 201, response.content
    return response.json()


# Price as added and warnings


def test_a_line_shows_its_price_as_added_and_a_fresh_cart_has_no_warnings(alice):
    line = add(alice, "alice", LOAFERS, 2).json()
    cart = alice.get("/cart/alice").json()

    assert line["added_unit_price"] == line["unit_price"] == "89.99"
    assert line["available"] is True
    assert cart["items"][0]["added_unit_price"] == "89.99"
    assert cart["warnings"] == []
    assert cart["checkout"] is None


def test_a_price_change_warns_and_reprice_accepts_the_new_price(alice):
    add(alice, "alice", LOAFERS, 2)
    add(alice, "alice", MUG)
    reprice_product(LOAFERS, "99.50")

    before = alice.get("/cart/alice")
    cart = before.json()
    assert cart["items"][0]["unit_price"] == "99.50"
    assert cart["items"][0]["added_unit_price"] == "89.99"
    assert cart["subtotal"] == str(
        Decimal("199.00") + Decimal(cart["items"][1]["unit_price"])
    )
    assert cart["warnings"] == [
        {
            "code": "price_changed",
            "product_id": LOAFERS,
            "added_unit_price": "89.99",
            "unit_price": "99.50",
        }
    ]

    repriced = alice.post("/cart/alice/reprice")

    assert repriced.status_code == 200
    assert repriced.json()["warnings"] == []
    assert repriced.json()["items"][0]["added_unit_price"] == "99.50"
    assert repriced["ETag"] != before["ETag"]
    assert alice.get("/cart/alice").json() == repriced.json()


def test_put_and_adding_again_keep_the_price_as_added_a_new_line_starts_afresh(
    alice,
):
    add(alice, "alice", LOAFERS)
    reprice_product(LOAFERS, "10.00")

    assert add(alice, "alice", LOAFERS).json()["added_unit_price"] == "89.99"
    put = alice.put(f"/cart/alice/items/{LOAFERS}", {"quantity": 5}, format="json")
    assert put.json()["added_unit_price"] == "89.99"

    alice.delete(f"/cart/alice/items/{LOAFERS}")
    assert add(alice, "alice", LOAFERS).json()["added_unit_price"] == "10.00"


def test_a_deactivated_product_stays_in_the_cart_uncounted_with_a_warning(alice):
    add(alice, "alice", LOAFERS, 2)
    add(alice, "alice", MUG, 3)
    Product.objects.filter(pk=MUG).update(active=False)

    cart = alice.get("/cart/alice").json()

    assert [line["available"] for line in cart["items"]] == [True, False]
    assert cart["total_quantity"] == 2
    assert cart["subtotal"] == "179.98"
    assert cart["warnings"] == [{"code": "product_unavailable", "product_id": MUG}]
    refused = alice.post("/cart/alice", {"product_id": MUG}, format="json")
    assert (refused.status_code, error_codes(refused)) == (404, ["product_not_found"])


def test_a_merge_keeps_the_target_lines_price_and_the_guests_own(make_client, catalog):
    alice = make_client("alice")
    add(alice, "alice", LOAFERS)
    guest_id, guest_token = new_guest()
    guest = APIClient()
    guest.credentials(HTTP_AUTHORIZATION=f"Token {guest_token}")
    add(guest, guest_id, LOAFERS)
    add(guest, guest_id, MUG)
    mug_price = Product.objects.get(pk=MUG).price
    Product.objects.filter(pk__in=[LOAFERS, MUG]).update(price=Decimal("1.00"))

    merged = alice.post(
        "/cart/alice/merge", {"guest_token": guest_token}, format="json"
    ).json()["cart"]

    assert [line["added_unit_price"] for line in merged["items"]] == [
        "89.99",
        str(mug_price),
    ]
    assert [warning["code"] for warning in merged["warnings"]] == ["price_changed"] * 2


# The hold


def test_a_hold_answers_the_checkout_and_the_cart_and_reads_show_it(alice):
    add(alice, "alice", LOAFERS, 2)

    response = alice.post("/cart/alice/checkout")
    body = response.json()

    assert response.status_code == 201
    checkout = body["checkout"]
    assert set(checkout) == {"id", "expires_at", "state"}
    assert checkout["state"] == "held"
    expires_at = timezone.datetime.fromisoformat(checkout["expires_at"])
    assert timedelta(minutes=14) < expires_at - timezone.now() <= timedelta(minutes=15)
    assert body["cart"]["checkout"] == checkout
    assert body["cart"]["items"][0]["quantity"] == 2
    got = alice.get("/cart/alice")
    assert got.json() == body["cart"]
    assert got["ETag"] == response["ETag"]


def test_every_change_of_a_held_cart_is_refused(make_client, catalog):
    alice, staff = make_client("alice"), make_client("frontend", staff=True)
    add(alice, "alice", LOAFERS, 2)
    checkout = hold(alice)["checkout"]
    _, guest_token = new_guest()

    refusals = [
        alice.post("/cart/alice", {"product_id": MUG}, format="json"),
        alice.post("/cart/alice", {"product_id": LOAFERS}, format="json"),
        staff.post("/cart/alice", {"product_id": MUG}, format="json"),
        alice.put(f"/cart/alice/items/{LOAFERS}", {"quantity": 1}, format="json"),
        alice.put(f"/cart/alice/items/{LOAFERS}", {"quantity": 0}, format="json"),
        alice.delete(f"/cart/alice/items/{LOAFERS}"),
        alice.delete(f"/cart/alice/items/{MUG}"),
        alice.delete("/cart/alice"),
        alice.post("/cart/alice/merge", {"guest_token": guest_token}, format="json"),
        alice.post("/cart/alice/reprice"),
    ]

    assert [(r.status_code, error_codes(r)) for r in refusals] == [
        (409, ["cart_in_checkout"])
    ] * len(refusals)
    second = alice.post("/cart/alice/checkout")
    assert (second.status_code, error_codes(second)) == (409, ["cart_in_checkout"])
    assert checkout["id"] in second.json()["errors"][0]["detail"]
    assert cart_lines("alice") == [(LOAFERS, 2)]
    assert alice.get("/cart/alice").json()["checkout"] == checkout


def test_a_held_guest_cart_is_not_merged_away(make_client, catalog):
    alice = make_client("alice")
    guest_id, guest_token = new_guest()
    guest = APIClient()
    guest.credentials(HTTP_AUTHORIZATION=f"Token {guest_token}")
    add(guest, guest_id, LOAFERS)
    hold(guest, guest_id)

    refused = alice.post(
        "/cart/alice/merge", {"guest_token": guest_token}, format="json"
    )

    assert (refused.status_code, error_codes(refused)) == (409, ["cart_in_checkout"])
    assert cart_lines(guest_id) == [(LOAFERS, 1)]


def test_an_empty_cart_or_one_with_only_unavailable_lines_cannot_be_held(alice):
    empty = alice.post("/cart/alice/checkout")
    add(alice, "alice", MUG)
    Product.objects.filter(pk=MUG).update(active=False)
    unavailable = alice.post("/cart/alice/checkout")

    assert (empty.status_code, error_codes(empty)) == (409, ["cart_empty"])
    assert (unavailable.status_code, error_codes(unavailable)) == (409, ["cart_empty"])
    assert not Checkout.objects.exists()


def test_a_hold_honours_if_match_and_idempotency_key(alice):
    etag = add(alice, "alice", LOAFERS)["ETag"]
    stale = alice.post("/cart/alice/checkout", HTTP_IF_MATCH='"1-0000000000000000"')
    first = alice.post(
        "/cart/alice/checkout", HTTP_IF_MATCH=etag, HTTP_IDEMPOTENCY_KEY="hold-1"
    )
    retry = alice.post(
        "/cart/alice/checkout", HTTP_IF_MATCH=etag, HTTP_IDEMPOTENCY_KEY="hold-1"
    )

    assert (stale.status_code, error_codes(stale)) == (412, ["precondition_failed"])
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert Checkout.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_refusal_by_a_hold_costs_no_query_to_explain(
    alice, django_assert_max_num_queries
):
    add(alice, "alice", LOAFERS)
    hold(alice)

    with django_assert_max_num_queries(2):  # token, the write
        refused = alice.post("/cart/alice", {"product_id": MUG}, format="json")

    assert error_codes(refused) == ["cart_in_checkout"]


# Complete and cancel


def test_complete_removes_exactly_the_held_lines_and_answers_the_snapshot(
    make_client, catalog
):
    alice, staff = make_client("alice"), make_client("frontend", staff=True)
    add(alice, "alice", LOAFERS, 2)
    add(alice, "alice", MUG, 1)
    add(alice, "alice", SUNGLASSES, 1)
    Product.objects.filter(pk=SUNGLASSES).update(active=False)
    checkout_id = hold(alice)["checkout"]["id"]
    reprice_product(LOAFERS, "1.00")  # after the hold: the charge is as held
    version = alice.get("/cart/alice")["ETag"]

    response = alice.post(f"/cart/alice/checkout/{checkout_id}/complete")
    snapshot = response.json()

    assert response.status_code == 200
    assert snapshot.pop("already_completed") is False
    mug = Product.objects.get(pk=MUG)
    assert snapshot["checkout_id"] == checkout_id
    assert snapshot["items"] == [
        {
            "product_id": LOAFERS,
            "name": "Loafers",
            "quantity": 2,
            "unit_price": "89.99",
            "line_total": "179.98",
        },
        {
            "product_id": MUG,
            "name": mug.name,
            "quantity": 1,
            "unit_price": str(mug.price),
            "line_total": str(mug.price),
        },
    ]
    assert snapshot["subtotal"] == str(Decimal("179.98") + mug.price)
    assert snapshot["currency"] == "USD"
    assert cart_lines("alice") == [(SUNGLASSES, 1)]
    after = alice.get("/cart/alice")
    assert after.json()["checkout"] is None
    assert after["ETag"] != version
    add(alice, "alice", LOAFERS)  # the cart is free again

    again = alice.post(f"/cart/alice/checkout/{checkout_id}/complete").json()
    assert again.pop("already_completed") is True
    assert again == snapshot
    staff_read = staff.get(f"/checkouts/{checkout_id}")
    assert (staff_read.status_code, staff_read.json()) == (200, snapshot)
    assert alice.get(f"/checkouts/{checkout_id}").status_code == 403


def test_unknown_checkouts_are_not_found(make_client, catalog):
    alice, bob = make_client("alice"), make_client("bob")
    add(alice, "alice", LOAFERS)
    checkout_id = hold(alice)["checkout"]["id"]
    staff = make_client("frontend", staff=True)

    answers = [
        bob.post(f"/cart/bob/checkout/{checkout_id}/complete"),
        bob.post(f"/cart/bob/checkout/{checkout_id}/cancel"),
        alice.post("/cart/alice/checkout/not-a-uuid/complete"),
        alice.post("/cart/alice/checkout/0b5f3c9e-7d6a-4e0f-9a51-2f8c1d3e4b6a/cancel"),
        staff.get(f"/checkouts/{checkout_id}"),  # held, not completed
        staff.get("/checkouts/nope"),
    ]

    assert [(a.status_code, error_codes(a)) for a in answers] == [
        (404, ["checkout_not_found"])
    ] * len(answers)


def test_cancel_releases_the_hold_and_repeats_harmlessly(alice):
    add(alice, "alice", LOAFERS)
    checkout_id = hold(alice)["checkout"]["id"]

    cancelled = alice.post(f"/cart/alice/checkout/{checkout_id}/cancel")
    again = alice.post(f"/cart/alice/checkout/{checkout_id}/cancel")
    complete = alice.post(f"/cart/alice/checkout/{checkout_id}/complete")

    assert cancelled.status_code == again.status_code == 200
    assert cancelled.json()["checkout"] is None
    assert again.json() == cancelled.json()
    assert (complete.status_code, error_codes(complete)) == (
        409,
        ["checkout_cancelled"],
    )
    add(alice, "alice", MUG)
    second = hold(alice)["checkout"]["id"]
    alice.post(f"/cart/alice/checkout/{second}/complete")
    refused = alice.post(f"/cart/alice/checkout/{second}/cancel")
    assert (refused.status_code, error_codes(refused)) == (409, ["checkout_completed"])


def test_a_hold_expires_with_no_worker_running(alice):
    add(alice, "alice", LOAFERS)
    checkout_id = hold(alice)["checkout"]["id"]
    # Time passes: nothing but the clock moves the hold past its expiry.
    Checkout.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert alice.get("/cart/alice").json()["checkout"] is None
    add(alice, "alice", MUG)
    complete = alice.post(f"/cart/alice/checkout/{checkout_id}/complete")
    assert (complete.status_code, error_codes(complete)) == (409, ["checkout_expired"])
    assert cart_lines("alice") == [(LOAFERS, 1), (MUG, 1)]
    # A new hold takes the expired one's place.
    assert hold(alice)["checkout"]["id"] != checkout_id
    assert Checkout.objects.get(pk=checkout_id).state == "expired"


def test_a_short_checkout_ttl_setting_expires_holds(alice, settings):
    settings.CART_CHECKOUT_TTL = 0
    add(alice, "alice", LOAFERS)

    body = hold(alice)

    assert body["checkout"]["state"] == "held"
    assert alice.get("/cart/alice").json()["checkout"] is None  # expired at once
    add(alice, "alice", LOAFERS)


# Concurrency: real threads, real connections


@pytest.mark.django_db(transaction=True)
def test_adds_racing_a_hold_are_either_held_and_completed_or_refused(
    make_client, catalog
):
    alice = make_client("alice")
    add(alice, "alice", LOAFERS)
    adds = 50

    def request(index):
        client = token_client(alice)
        if index == adds:
            return client.post("/cart/alice/checkout")
        return client.post("/cart/alice", {"product_id": MUG}, format="json")

    calls = iter(range(adds + 1))
    answers = concurrently(adds + 1, lambda: request(next(calls)))

    held = [a for a in answers if a.status_code == 201 and "checkout" in a.json()]
    assert len(held) == 1
    added = [a for a in answers if a.status_code in (200, 201) and a not in held]
    refused = [a for a in answers if a.status_code == 409]
    assert len(added) + len(refused) == adds
    assert all(error_codes(a) == ["cart_in_checkout"] for a in refused)
    held_items = {
        item["product_id"]: item["quantity"] for item in held[0].json()["cart"]["items"]
    }
    assert held_items.get(MUG, 0) == len(added)
    checkout_id = held[0].json()["checkout"]["id"]
    snapshot = alice.post(f"/cart/alice/checkout/{checkout_id}/complete").json()
    charged = {item["product_id"]: item["quantity"] for item in snapshot["items"]}
    assert charged == held_items
    assert cart_lines("alice") == []


@pytest.mark.django_db(transaction=True)
def test_complete_retried_concurrently_makes_one_snapshot(make_client, catalog):
    alice = make_client("alice")
    add(alice, "alice", LOAFERS, 3)
    checkout_id = hold(alice)["checkout"]["id"]

    answers = concurrently(
        20,
        lambda: token_client(alice).post(
            f"/cart/alice/checkout/{checkout_id}/complete"
        ),
    )

    assert [a.status_code for a in answers] == [200] * 20
    bodies = [a.json() for a in answers]
    assert (
        sorted(body.pop("already_completed") for body in bodies)
        == [False] + [True] * 19
    )
    assert all(body == bodies[0] for body in bodies)
    assert Checkout.objects.get().state == "completed"
    assert cart_lines("alice") == []


# Expiry of snapshots


def test_purge_removes_old_snapshots_and_keeps_recent_ones(alice, settings):
    add(alice, "alice", LOAFERS)
    old = hold(alice)["checkout"]["id"]
    alice.post(f"/cart/alice/checkout/{old}/complete")
    add(alice, "alice", LOAFERS)
    recent = hold(alice)["checkout"]["id"]
    alice.post(f"/cart/alice/checkout/{recent}/complete")
    past = timezone.now() - timedelta(days=31)
    Checkout.objects.filter(pk=old).update(completed_at=past, expires_at=past)

    call_command("purge_carts", verbosity=0)

    assert list(Checkout.objects.values_list("pk", flat=True)) == [
        Checkout.objects.get(pk=recent).pk
    ]


def test_purge_leaves_a_held_cart_alone_whatever_its_ttl(alice, settings):
    settings.CART_USER_CART_TTL = 60
    add(alice, "alice", LOAFERS)
    checkout_id = hold(alice)["checkout"]["id"]
    Cart.objects.update(updated_at=timezone.now() - timedelta(hours=1))

    call_command("purge_carts", verbosity=0)

    assert cart_lines("alice") == [(LOAFERS, 1)]
    assert alice.post(f"/cart/alice/checkout/{checkout_id}/complete").status_code == 200
