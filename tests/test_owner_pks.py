"""The cart statements take the owner's pk, which each process remembers
(carts.cart.owners): a remembered pk that went stale (a renamed user, a
deleted user whose id came back) never reaches another user's cart, and the
write or read still finds the id's own cart."""

from carts.cart import owners
from carts.demo import LOAFERS, MUG
from carts.models import User

from .conftest import add, cart_lines


def test_a_renamed_users_remembered_pk_reaches_neither_cart_wrongly(staff):
    add(staff, "carol", LOAFERS)
    carols_pk = owners.owner_pk_known("carol")
    User.objects.filter(username="carol").update(username="dave")
    assert owners.owner_pk_known("carol") == carols_pk  # remembered, now stale

    assert staff.get("/cart/carol").json()["items"] == []
    assert add(staff, "carol", MUG).status_code == 201
    staff.put(f"/cart/carol/items/{MUG}", {"quantity": 3}, format="json")
    assert staff.delete(f"/cart/carol/items/{LOAFERS}").status_code == 404

    assert cart_lines("dave") == [(LOAFERS, 1)]
    assert cart_lines("carol") == [(MUG, 3)]
    assert owners.owner_pk_known("carol") != carols_pk


def test_a_deleted_user_whose_id_comes_back_gets_its_new_cart(staff):
    add(staff, "erin", LOAFERS)
    stale = owners.owner_pk_known("erin")
    User.objects.filter(username="erin").delete()
    User.objects.create(username="erin")

    assert staff.delete("/cart/erin").status_code == 204
    assert add(staff, "erin", MUG).status_code == 201
    assert staff.get("/cart/erin").json()["items"][0]["product_id"] == MUG
    assert cart_lines("erin") == [(MUG, 1)]
    assert owners.owner_pk_known("erin") not in (stale, None)


def test_a_first_write_that_must_be_refused_creates_no_user(staff):
    response = staff.post(
        "/cart/frank", {"product_id": "no-such-product"}, format="json"
    )

    assert response.status_code == 404
    assert not User.objects.filter(username="frank").exists()
