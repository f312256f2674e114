"""Every writer of a cart follows the aggregate's order (docs/design.md,
"Writers and their order"): the admin's edits, catalog edits, merge and purge,
raced against each other on real concurrent transactions.

Each race is made explicit, not hoped for: a trigger pauses one transaction
right after a statement of its own (it waits for an advisory lock the test
holds), the test starts the other writer, waits until PostgreSQL shows that
one waiting for a lock (or done), and only then lets the first go on.
"""

from collections.abc import Callable
from datetime import timedelta

import psycopg2
import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from carts.cart.owners import NewOwner, owner_cart_ensure
from carts.demo import CANDLE_HOLDER, LOAFERS, MUG, SHAKERS, SUNGLASSES
from carts.models import Cart, CartItem, User

from .conftest import (
    WAIT,
    add,
    cart_lines,
    database_url_for_tests,
    error_codes,
    token_client,
    wait_until,
    waiting_for_a_lock_or_done,
)

pytestmark = pytest.mark.django_db(transaction=True)


def raw_version(user_id: str) -> int:
    return Cart.objects.get(user__username=user_id).version


def admin_delete_selected(admin_client, *items: CartItem):
    return admin_client.post(
        "/admin/carts/cartitem/",
        {
            "action": "delete_selected",
            "_selected_action": [item.pk for item in items],
            "post": "yes",
        },
    )


def guest_with(product_id: str, quantity: int) -> tuple[str, str]:
    """A guest (POST /guests) holding one item: (its user id, its token)."""
    answer = APIClient().post("/guests").json()
    guest = APIClient()
    guest.credentials(HTTP_AUTHORIZATION=f"Token {answer['token']}")
    add(guest, answer["user_id"], product_id, quantity)
    return answer["user_id"], answer["token"]


def merge_request(shopper, guest_token: str) -> Callable[[], object]:
    """The shopper's merge of the guest's cart, for a thread of its own."""
    return lambda: token_client(shopper).post(
        "/cart/shopper/merge", {"guest_token": guest_token}, format="json"
    )


# 1. The admin locks the cart before it touches the cart's items.


def test_an_operators_edit_and_an_add_of_the_same_item_both_apply(
    admin_client, alice, pause, in_thread
):
    add(alice, "alice", LOAFERS, 2)
    item = CartItem.objects.get(user__username="alice")
    before = raw_version("alice")
    paused = pause("carts_cartitem", "UPDATE", "NEW.quantity = 7")

    edit = in_thread(
        lambda: admin_client.post(
            f"/admin/carts/cartitem/{item.pk}/change/",
            {"user": item.user_id, "product": LOAFERS, "quantity": 7},
        )
    )
    wait_until(paused.paused, "the operator's edit paused after its UPDATE")
    added = in_thread(
        lambda: token_client(alice).post(
            "/cart/alice", {"product_id": LOAFERS, "quantity": 3}, format="json"
        )
    )
    wait_until(waiting_for_a_lock_or_done(added), "the add waits for a lock")
    paused.release()

    assert edit.result(WAIT).status_code == 302
    assert added.result(WAIT).status_code == 200, added.result().content
    assert cart_lines("alice") == [(LOAFERS, 10)]  # the edit, then the add
    assert raw_version("alice") == before + 2


def test_an_operators_delete_and_a_merge_into_that_cart_apply_in_one_order(
    admin_client, make_client, catalog, pause, in_thread
):
    shopper = make_client("shopper")
    add(shopper, "shopper", LOAFERS, 3)
    _, guest_token = guest_with(LOAFERS, 2)
    item = CartItem.objects.get(user__username="shopper")
    paused = pause("carts_cartitem", "DELETE", f"OLD.user_id = {item.user_id}")

    delete = in_thread(lambda: admin_delete_selected(admin_client, item))
    wait_until(paused.paused, "the operator's delete paused")
    merge = in_thread(merge_request(shopper, guest_token))
    wait_until(waiting_for_a_lock_or_done(merge), "the merge waits for a lock")
    paused.release()

    assert delete.result(WAIT).status_code == 302
    assert merge.result(WAIT).status_code == 200, merge.result().content
    # A serial order: the delete, then the guest's 2 (never the lost delete's 5).
    assert cart_lines("shopper") == [(LOAFERS, 2)]


def test_while_an_operators_delete_waits_the_cart_and_its_etag_agree(
    admin_client, alice, in_thread
):
    etag = add(alice, "alice", LOAFERS, 2)["ETag"]
    item = CartItem.objects.get(user__username="alice")
    holder = psycopg2.connect(database_url_for_tests())  # another writer
    try:
        with holder.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM carts_cart WHERE user_id = %s FOR UPDATE",
                [item.user_id],
            )
        delete = in_thread(lambda: admin_delete_selected(admin_client, item))
        wait_until(waiting_for_a_lock_or_done(delete), "the delete waits")

        # Nothing changed yet, so the ETag still names what GET shows.
        assert alice.get("/cart/alice", HTTP_IF_NONE_MATCH=etag).status_code == 304
        assert cart_lines("alice") == [(LOAFERS, 2)]
    finally:
        holder.rollback()
        holder.close()

    assert delete.result(WAIT).status_code == 302
    assert cart_lines("alice") == []
    assert alice.get("/cart/alice", HTTP_IF_NONE_MATCH=etag).status_code == 200


# 2. Catalog edits lock their carts once, at commit, in one order.


def catalog_editor():
    editor = psycopg2.connect(database_url_for_tests())

    def update(product_id: str) -> None:
        with editor.cursor() as cursor:
            cursor.execute(
                "UPDATE carts_product SET price = price + 1 WHERE id = %s",
                [product_id],
            )

    return editor, update


def test_two_catalog_edits_over_disjoint_products_never_deadlock(
    make_client, catalog, in_thread
):
    first, second = make_client("cart-a"), make_client("cart-b")
    for product_id in (LOAFERS, MUG):
        add(first, "cart-a", product_id)
    for product_id in (SHAKERS, SUNGLASSES):
        add(second, "cart-b", product_id)
    before = {user_id: raw_version(user_id) for user_id in ("cart-a", "cart-b")}
    one, one_update = catalog_editor()
    two, two_update = catalog_editor()
    try:
        one_update(LOAFERS)  # in cart-a
        two_update(SHAKERS)  # in cart-b

        def one_goes_on() -> None:
            one_update(SUNGLASSES)  # in cart-b
            one.commit()

        one_done = in_thread(one_goes_on)
        wait_until(waiting_for_a_lock_or_done(one_done), "edit one went on")
        two_update(MUG)  # in cart-a
        two.commit()
        one_done.result(WAIT)
    finally:
        one.close()
        two.close()

    # Each edit touched both carts: one new version each, per edit.
    assert {user_id: raw_version(user_id) - before[user_id] for user_id in before} == {
        "cart-a": 2,
        "cart-b": 2,
    }


def test_a_two_product_edit_racing_a_merge_lets_both_apply(
    make_client, catalog, pause, in_thread
):
    _, guest_token = guest_with(CANDLE_HOLDER, 2)  # the lower user id
    shopper = make_client("shopper")
    add(shopper, "shopper", LOAFERS)
    # The merge stops after it made sure of its target's cart row, before it
    # locks the two carts.
    paused = pause("carts_cart", "INSERT", None)
    editor, update = catalog_editor()
    try:
        merge = in_thread(merge_request(shopper, guest_token))
        wait_until(paused.paused, "the merge paused")
        update(LOAFERS)  # in the shopper's cart, the higher id
        paused.release()
        wait_until(waiting_for_a_lock_or_done(merge), "the merge went on")
        update(CANDLE_HOLDER)  # in the guest's cart, the lower id
        editor.commit()
    finally:
        editor.close()

    assert merge.result(WAIT).status_code == 200, merge.result().content
    assert cart_lines("shopper") == [(LOAFERS, 1), (CANDLE_HOLDER, 2)]


# 3. An ETag never names two contents of one id's cart.


def test_an_etag_never_repeats_for_a_cart_deleted_and_created_again(staff, settings):
    owner_cart_ensure(user_id="session-1", new_owner=NewOwner.GUEST)
    first = add(staff, "session-1", LOAFERS)["ETag"]
    Cart.objects.filter(user__username="session-1").update(
        updated_at=timezone.now() - timedelta(days=30)
    )
    call_command("purge_carts", verbosity=0)
    assert not User.objects.filter(username="session-1").exists()

    second = add(staff, "session-1", MUG)["ETag"]  # the same id, a new cart

    assert second != first
    assert staff.get("/cart/session-1", HTTP_IF_NONE_MATCH=first).status_code == 200
    stale = staff.delete("/cart/session-1", HTTP_IF_MATCH=first)
    assert stale.status_code == 412
    assert cart_lines("session-1") == [(MUG, 1)]


# 4. A guest that purge is deleting is merged whole or not found, never a 500.


@pytest.mark.parametrize(
    "table, when",
    [
        # While purge holds the guest's cart lock, its items deleted.
        ("carts_cartitem", "OLD.user_id = {guest}"),
        # After purge deleted the guest, before it commits.
        ("carts_user", "OLD.id = {guest}"),
    ],
    ids=["items-deleted", "guest-deleted"],
)
def test_a_merge_of_a_guest_being_purged_is_not_found(
    make_client, catalog, pause, in_thread, table, when
):
    guest_id, guest_token = guest_with(LOAFERS, 2)
    guest_pk = User.objects.get(username=guest_id).pk
    Cart.objects.filter(user_id=guest_pk).update(
        updated_at=timezone.now() - timedelta(days=30)
    )
    shopper = make_client("shopper")
    paused = pause(table, "DELETE", when.format(guest=guest_pk))

    purge = in_thread(lambda: call_command("purge_carts", verbosity=0))
    wait_until(paused.paused, "purge paused")
    merge = in_thread(merge_request(shopper, guest_token))
    wait_until(waiting_for_a_lock_or_done(merge), "the merge waits for a lock")
    paused.release()
    purge.result(WAIT)

    answer = merge.result(WAIT)
    assert answer.status_code == 404, answer.content
    assert error_codes(answer) == ["guest_not_found"]
    assert not User.objects.filter(pk=guest_pk).exists()
    assert not Cart.objects.filter(user_id=guest_pk).exists()
    assert cart_lines("shopper") == []


# 5. A checkout hold and the cart's writers wait for each other's lock.


def test_an_add_paused_before_its_commit_is_in_the_hold_that_waited_for_it(
    alice, pause, in_thread
):
    add(alice, "alice", LOAFERS)
    paused = pause("carts_cartitem", "INSERT", f"NEW.product_id = '{MUG}'")

    added = in_thread(
        lambda: token_client(alice).post(
            "/cart/alice", {"product_id": MUG}, format="json"
        )
    )
    wait_until(paused.paused, "the add paused after its INSERT")
    held = in_thread(lambda: token_client(alice).post("/cart/alice/checkout"))
    wait_until(waiting_for_a_lock_or_done(held), "the hold waits for a lock")
    paused.release()

    assert added.result(WAIT).status_code == 201
    answer = held.result(WAIT)
    assert answer.status_code == 201, answer.content
    held_items = [
        (item["product_id"], item["quantity"])
        for item in answer.json()["cart"]["items"]
    ]
    assert held_items == [(LOAFERS, 1), (MUG, 1)]


def test_an_add_that_waited_for_a_paused_hold_is_refused(alice, pause, in_thread):
    add(alice, "alice", LOAFERS)
    paused = pause("carts_checkout", "INSERT", "NEW.state = 'held'")

    held = in_thread(lambda: token_client(alice).post("/cart/alice/checkout"))
    wait_until(paused.paused, "the hold paused after its INSERT")
    added = in_thread(
        lambda: token_client(alice).post(
            "/cart/alice", {"product_id": MUG}, format="json"
        )
    )
    wait_until(waiting_for_a_lock_or_done(added), "the add waits for a lock")
    paused.release()

    assert held.result(WAIT).status_code == 201
    refused = added.result(WAIT)
    assert (refused.status_code, error_codes(refused)) == (409, ["cart_in_checkout"])
    assert cart_lines("alice") == [(LOAFERS, 1)]
