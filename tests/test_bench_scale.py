"""The scale benchmark's data (bench/scale_data.py, `make bench-scale`) at a
small size: it has the shape bench/SCALE.md states, and the service reads,
changes and purges it as it does carts it wrote itself."""

import importlib
from io import StringIO
from types import ModuleType

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from carts.models import Cart, CartEvent, CartItem, IdempotencyRecord, User

# bench/ is the repository's, not the image's: the host suite runs these.
pytestmark = pytest.mark.repository

USERS = 50


@pytest.fixture
def scale_data(monkeypatch) -> ModuleType:
    # bench/'s modules import one another by name, as their scripts run them.
    monkeypatch.syspath_prepend(str(settings.BASE_DIR / "bench"))
    return importlib.import_module("scale_data")


@pytest.fixture
def front_end(db, scale_data) -> APIClient:
    """The loaded carts and the staff account the load calls the service
    with, as `make bench-scale` loads them."""
    with connection.cursor() as cursor:
        scale_data.products_load(cursor)
        token = scale_data.staff_load(cursor)
        scale_data.carts_load(cursor, first=1, last=USERS)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def loaded_shape(scale_data, prefix: str = "user") -> dict:
    with connection.cursor() as cursor:
        return scale_data.shape(cursor, prefix)


def test_loaded_carts_have_the_stated_shape(scale_data, front_end):
    assert loaded_shape(scale_data) == {
        "users": USERS,
        "carts": USERS,
        "guest_share": 0.6,
        "lines": 3 * USERS,
        "fewest_lines": 3,
        "most_lines": 3,
        "tokens": USERS,
        "carts_off_version": 0,
    }
    users = User.objects.filter(username__startswith="user")
    assert users.filter(is_guest=True).count() == 30
    assert set(Cart.objects.values_list("version", flat=True)) == {3}
    generations = Cart.objects.values_list("generation", flat=True)
    assert all(1 <= generation < 2**31 for generation in generations)
    assert len(set(generations)) > USERS - 3  # drawn, not one for all
    lines = CartItem.objects.filter(user__username="user00007")
    assert {line.added_unit_price == line.product.price for line in lines} == {True}


def test_user_names_are_spelled_as_wrk_draws_them(scale_data, front_end):
    # bench/wrk/common.lua: string.format("user%05d", n).
    with connection.cursor() as cursor:
        scale_data.carts_load(cursor, first=99_999, last=100_001)
    names = set(User.objects.values_list("username", flat=True))
    assert {"user00001", "user00050", "user99999", "user100000", "user100001"} <= names
    assert "user00051" not in names


def test_the_service_reads_and_changes_a_loaded_cart(scale_data, front_end):
    stored = list(
        CartItem.objects.filter(user__username="user00007")
        .order_by("created_at")
        .values_list("product_id", "quantity")
    )
    answer = front_end.get("/cart/user00007")
    assert answer.status_code == 200
    assert [
        (item["product_id"], item["quantity"]) for item in answer.json()["items"]
    ] == (stored)
    assert answer.json()["warnings"] == []
    etag = answer["ETag"]
    assert front_end.get("/cart/user00007", HTTP_IF_NONE_MATCH=etag).status_code == 304
    added = front_end.post(
        "/cart/user00007", {"product_id": stored[0][0]}, format="json"
    )
    assert added.status_code == 200
    assert added.json()["quantity"] == stored[0][1] + 1
    assert added["ETag"] != etag
    assert Cart.objects.get(user__username="user00007").version == 4


def test_carts_reshaped_to_a_hundred_lines_read_in_product_order(scale_data, front_end):
    with connection.cursor() as cursor:
        scale_data.cart_lines_set(cursor, users=5, lines=100)
    answer = front_end.get("/cart/user00005")
    assert [item["product_id"] for item in answer.json()["items"]] == (
        scale_data.PRODUCTS
    )
    assert CartItem.objects.filter(user__username="user00006").count() == 3
    assert Cart.objects.get(user__username="user00005").version == 4


def test_stored_answers_belong_to_the_front_end(scale_data, front_end):
    with connection.cursor() as cursor:
        scale_data.idempotency_records_load(cursor, count=20)
    records = IdempotencyRecord.objects.all()
    assert records.count() == 20
    assert set(records.values_list("caller__username", "status")) == {
        (scale_data.STAFF, 200)
    }


# The feed shows what committed (transaction=True).
@pytest.mark.django_db(transaction=True)
def test_outbox_rows_are_add_events_of_the_loaded_carts(scale_data, front_end):
    with connection.cursor() as cursor:
        scale_data.cart_events_load(cursor, count=2 * USERS + 7)
    events = CartEvent.objects.order_by("id")
    assert events.count() == 2 * USERS + 7
    loaded = dict(
        User.objects.filter(username__startswith="user").values_list("pk", "username")
    )
    assert {(event.user_pk, event.username) for event in events} == set(loaded.items())
    assert {event.type for event in events} == {"cart.item_added"}
    per_cart = [events.filter(user_pk=pk).count() for pk in loaded]
    assert sorted(set(per_cart)) == [2, 3]
    # The feed serves them in order, and the service's next add follows them.
    added = front_end.post(
        "/cart/user00007", {"product_id": "scale-008"}, format="json"
    )
    assert added.status_code in (200, 201)
    page = front_end.get("/events", {"limit": 500}).json()["events"]
    assert [event["type"] for event in page] == ["cart.item_added"] * (2 * USERS + 8)
    assert page[-1]["user_id"] == "user00007"


@pytest.mark.django_db(transaction=True)
def test_stale_guests_are_all_guests_and_purge_carts_takes_exactly_them(
    scale_data, front_end
):
    with connection.cursor() as cursor:
        scale_data.carts_load(cursor, first=1, last=10, prefix="stale", stale=True)
    assert loaded_shape(scale_data, "stale")["guest_share"] == 1.0
    out = StringIO()
    call_command("purge_carts", stdout=out)
    assert "removed: 10 stale guests" in out.getvalue()
    assert loaded_shape(scale_data, "stale")["users"] == 0
    assert loaded_shape(scale_data)["carts"] == USERS


def test_the_purge_p99_is_of_all_the_phase_requests_not_of_one_window(monkeypatch):
    monkeypatch.syspath_prepend(str(settings.BASE_DIR / "bench"))
    scale_report = importlib.import_module("scale_report")

    def window(requests: int, slowest: float, slow_us: int, fast_us: int) -> dict:
        """`slowest` per cent of `requests` take slow_us, the rest fast_us,
        as wrk's tail (bench/wrk/common.lua) gives them."""
        steps = [90 + step / 100 for step in range(1001)]
        return {
            "requests": requests,
            "tail_us": [slow_us if p > 100 - slowest else fast_us for p in steps],
        }

    quiet = window(10_000, 0, 100_000, 10_000)
    # 1.5% of one window's requests: its own p99 is 100 ms, but they are
    # 0.75% of the two windows', whose 99th percentile is 20 ms.
    stalled = window(10_000, 1.5, 100_000, 20_000)
    assert scale_report.pooled_percentile_ms([quiet, stalled], 99) == 20.0
    # 3% of one window: 1.5% of both, slower than their 99th percentile.
    stalled = window(10_000, 3, 100_000, 20_000)
    assert scale_report.pooled_percentile_ms([quiet, stalled], 99) == 100.0
    assert scale_report.pooled_percentile_ms([quiet], 99) == 10.0
