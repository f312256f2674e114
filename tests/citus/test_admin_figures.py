"""The admin's cart figures on Citus: computed for the page's rows by one more
query (carts.admin.FiguresOnEachPage), so their columns do not sort there.
tests/test_admin.py checks the figures and the query counts on both
databases; its sort by subtotal is PostgreSQL's alone."""

from carts.admin import UserAdmin
from carts.models import CartItem, User


def test_a_figure_column_offers_no_sort_and_ignores_one_asked_for(
    admin_client, catalog
):
    for username, quantity in [("big", 9), ("small", 1)]:
        user = User.objects.create(username=username)
        CartItem.objects.create(user=user, product_id="L9ECAV7KIM", quantity=quantity)
    subtotal = UserAdmin.list_display.index("cart_subtotal") + 1

    response = admin_client.get("/admin/carts/user/", {"o": f"-{subtotal}"})

    assert response.status_code == 200
    changelist = response.context["cl"]
    assert "cart_subtotal" not in changelist.sortable_by
    assert "username" in changelist.sortable_by
    assert {
        user.username: user.cart_total_quantity for user in changelist.result_list
    } == {
        "big": 9,
        "small": 1,
        "admin": 0,
    }
