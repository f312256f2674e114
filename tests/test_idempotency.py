"""Safe retries with Idempotency-Key (API.md v2), on real PostgreSQL
transactions and real concurrent connections."""

from datetime import timedelta
from io import StringIO

import psycopg2
import pytest
from django.core.management import call_command
from django.utils import timezone

from carts.models import IdempotencyRecord

from .conftest import (
    cart_lines,
    concurrently,
    database_url_for_tests,
    error_codes,
    token_client,
)
from .test_guests_and_merge import add, new_guest

pytestmark = pytest.mark.django_db(transaction=True)

LOAFERS, MUG = "L9ECAV7KIM", "6E92ZMYYFZ"


def add_once(client, key: str, user_id: str = "alice", **body):
    body = {"product_id": LOAFERS, "quantity": 2} | body
    return client.post(
        f"/cart/{user_id}", body, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def answer(response) -> tuple:
    return response.status_code, response.content, response["ETag"]


def test_a_retry_gets_the_first_answer_and_changes_nothing(alice):
    first = add_once(alice, "add-1")
    add(alice, "alice", MUG, 1)  # the cart moves on meanwhile

    retry = add_once(alice, "add-1")

    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    assert answer(retry) == answer(first)
    assert retry["Idempotent-Replayed"] == "true"
    assert cart_lines("alice") == [(LOAFERS, 2), (MUG, 1)]


def test_a_key_runs_once_under_50_concurrent_requests(alice):
    responses = concurrently(50, lambda: add_once(token_client(alice), "burst"))

    assert cart_lines("alice") == [(LOAFERS, 2)]
    answered = [r for r in responses if r.status_code != 409]
    assert {answer(r) for r in answered} == {answer(answered[0])}
    assert answered[0].status_code == 201
    assert sum("Idempotent-Replayed" not in r for r in answered) == 1
    for response in responses:
        if response.status_code == 409:
            assert error_codes(response) == ["idempotency_key_in_use"]


def test_a_key_used_again_for_another_request_is_422(alice, staff):
    add_once(alice, "k")
    add_once(staff, "s", user_id="u1")

    other_body = add_once(alice, "k", quantity=3)
    other_path = add_once(staff, "s", user_id="u2")

    for response in (other_body, other_path):
        assert response.status_code == 422
        assert error_codes(response) == ["idempotency_key_reused"]
    assert cart_lines("alice") == [(LOAFERS, 2)]
    assert cart_lines("u2") == []


def test_the_same_body_spelled_differently_is_the_same_request(alice):
    first = alice.post(
        "/cart/alice",
        '{"quantity": 2, "product_id": "L9ECAV7KIM"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    retry = alice.post(
        "/cart/alice/",
        '{ "product_id":"L9ECAV7KIM",  "quantity":2 }',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY='"k"',  # as an sf-string: the same key
    )

    assert retry["Idempotent-Replayed"] == "true"
    assert answer(retry) == answer(first)


def test_an_error_answer_is_not_stored_and_a_retry_runs_again(alice):
    alice.put(f"/cart/alice/items/{LOAFERS}", {"quantity": 999}, format="json")

    refused = add_once(alice, "k")
    alice.put(f"/cart/alice/items/{LOAFERS}", {"quantity": 1}, format="json")
    retry = add_once(alice, "k")

    assert refused.status_code == 409
    assert error_codes(refused) == ["quantity_limit_exceeded"]
    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry
    assert cart_lines("alice") == [(LOAFERS, 3)]


def test_keys_of_two_callers_never_collide(alice, staff):
    mine = add_once(alice, "same-key")
    theirs = add_once(staff, "same-key", quantity=5)

    assert mine.status_code == 201 and theirs.status_code == 200
    assert "Idempotent-Replayed" not in theirs
    assert cart_lines("alice") == [(LOAFERS, 7)]


def test_a_merge_with_a_key_runs_once(alice):
    guest_id, guest = new_guest()
    add(guest, guest_id, MUG, 3)

    def merge():
        return alice.post(
            "/cart/alice/merge",
            {"guest_token": guest.token},
            format="json",
            HTTP_IDEMPOTENCY_KEY="login-1",
        )

    first, retry = merge(), merge()

    assert first.json()["already_merged"] is False
    assert answer(retry) == answer(first)
    assert retry["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    "key",
    ["", "   ", "x" * 256, "a b", "caf\xe9", '"unterminated', '""', '"a"b"', '"\\x"'],
)
def test_an_invalid_key_is_400_and_changes_nothing(alice, key):
    response = add_once(alice, key)

    assert response.status_code == 400
    assert error_codes(response) == ["invalid_idempotency_key"]
    assert cart_lines("alice") == []


@pytest.mark.parametrize("key", ["x" * 255, "!~", '"with space and \\" quote"'])
def test_a_valid_key_is_accepted(alice, key):
    assert add_once(alice, key).status_code == 201
    assert add_once(alice, key)["Idempotent-Replayed"] == "true"


def test_a_repeat_past_the_wait_for_its_first_is_409_then_runs(alice):
    # The first request, still running: its claim is not committed yet.
    first = psycopg2.connect(database_url_for_tests())
    try:
        with first.cursor() as cursor:
            cursor.execute(
                "INSERT INTO carts_idempotencyrecord"
                " (caller_id, key, request_hash, body, etag, created_at)"
                " VALUES (%s, 'slow', '', '', '', now())",
                [alice.user.pk],
            )
        repeat = add_once(alice, "slow")
    finally:
        first.rollback()  # it failed: nothing stored
        first.close()

    assert repeat.status_code == 409
    assert error_codes(repeat) == ["idempotency_key_in_use"]
    assert cart_lines("alice") == []
    assert add_once(alice, "slow").status_code == 201


def test_expired_answers_are_purged_and_their_keys_free_again(alice, settings):
    add_once(alice, "old")
    add_once(alice, "older")
    add_once(alice, "fresh")
    past = timezone.now() - timedelta(seconds=settings.CART_IDEMPOTENCY_TTL + 60)
    IdempotencyRecord.objects.filter(key__in=["old", "older"]).update(created_at=past)

    retry = add_once(alice, "old")  # expired but not purged yet: runs again
    out = StringIO()
    call_command("purge_carts", stdout=out)

    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry
    assert "1 expired idempotency records" in out.getvalue()
    assert set(IdempotencyRecord.objects.values_list("key", flat=True)) == {
        "old",
        "fresh",
    }
    assert cart_lines("alice") == [(LOAFERS, 8)]
