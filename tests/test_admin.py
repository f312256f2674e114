"""The admin through its HTTP pages: query counts and the API's rules on edits."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from carts.admin import UserAdmin
from carts.database.citus import citus_installed
from carts.models import CartItem, Product, User

from .admin_pages import subtotals_shown
from .conftest import add

# The most queries a changelist page may cost, whatever its size. Each starts
# with the session and the operator; then the user list: the groups filter,
# two counts, the rows; the cart line list: the product filter, two counts,
# the rows (user and product joined), two for the date hierarchy; the product
# list: two counts, the rows.
MOST_QUERIES = {"users": 6, "cart lines": 8, "products": 5}
# On Citus the users' and products' figures are one more query
# (carts.admin.FiguresOnEachPage).
FIGURES_QUERY = {"users": 1, "cart lines": 0, "products": 1}


def most_queries(page: str) -> int:
    return MOST_QUERIES[page] + (
        FIGURES_QUERY[page] if citus_installed(connection) else 0
    )


def add_shoppers(count: int, lines_each: int) -> None:
    """`count` more users, each with `lines_each` lines of catalog products."""
    first = User.objects.count()
    products = list(Product.objects.all()[:lines_each])
    users = User.objects.bulk_create(
        User(username=f"shopper{number}") for number in range(first, first + count)
    )
    CartItem.objects.bulk_create(
        CartItem(user=user, product=product, quantity=position + 1)
        for user in users
        for position, product in enumerate(products)
    )


def user_change_data(user: User, quantities: dict[int, int]) -> dict:
    """The POST body of the user change page, with the inline lines'
    quantities set as given (line id -> quantity)."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "cart_items-TOTAL_FORMS": len(quantities),
        "cart_items-INITIAL_FORMS": len(quantities),
        "cart_items-MIN_NUM_FORMS": 0,
        "cart_items-MAX_NUM_FORMS": 1000,
    }
    for index, (line_id, quantity) in enumerate(quantities.items()):
        data[f"cart_items-{index}-id"] = line_id
        data[f"cart_items-{index}-user"] = user.pk
        data[f"cart_items-{index}-quantity"] = quantity
    return data


def page_text(response) -> str:
    """The page's HTML without the whitespace between tags."""
    return re.sub(r">\s+|\s+<", lambda gap: gap.group().strip(), response.text)


def queries_for(client, path: str) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries), response


@pytest.mark.parametrize(
    ("page", "path", "lines_each", "operator_rows"),
    # The user list shows the operator too; each shopper there has 3 lines.
    [
        ("users", "/admin/carts/user/", 3, 1),
        ("cart lines", "/admin/carts/cartitem/", 1, 0),
    ],
)
def test_changelist_costs_the_same_few_queries_for_5_and_50_rows(
    admin_client, catalog, page, path, lines_each, operator_rows
):
    counts, shoppers = {}, 0
    for rows in (5, 50):
        add_shoppers(rows - operator_rows - shoppers, lines_each)
        shoppers = rows - operator_rows
        count, response = queries_for(admin_client, path)
        assert len(response.context["cl"].result_list) == rows
        counts[rows] = count

    assert counts[5] == counts[50] <= most_queries(page), counts


def test_product_changelist_costs_the_same_queries_whatever_the_carts(
    admin_client, catalog
):
    few, _ = queries_for(admin_client, "/admin/carts/product/")
    add_shoppers(50, 9)
    many, response = queries_for(admin_client, "/admin/carts/product/")

    assert few == many <= most_queries("products")
    assert {product.cart_count for product in response.context["cl"].result_list} == {
        50
    }


def test_user_list_shows_cart_figures_as_exact_decimals(admin_client, catalog):
    alice = User.objects.create(username="alice")
    CartItem.objects.create(user=alice, product_id="L9ECAV7KIM", quantity=3)
    CartItem.objects.create(user=alice, product_id="OLJCESPC7Z", quantity=2)
    price = Product.objects.get(pk="L9ECAV7KIM").price

    response = admin_client.get("/admin/carts/user/", {"q": "alice"})

    (row,) = response.context["cl"].result_list
    subtotal = price * 3 + Decimal("19.99") * 2
    assert (row.cart_line_count, row.cart_total_quantity) == (2, 5)
    assert row.cart_subtotal_amount == subtotal
    assert isinstance(row.cart_subtotal_amount, Decimal)
    assert f'<td class="field-cart_subtotal">{subtotal}</td>' in page_text(response)


def test_every_page_showing_a_subtotal_shows_it_in_cents(admin_client, staff):
    """On PostgreSQL; tests/sqlite_scenario.py checks the same pages on SQLite."""
    Product.objects.filter(pk="L9ECAV7KIM").update(price="2.00")
    add(staff, "alice", "L9ECAV7KIM", 3)
    add(staff, "bob", "OLJCESPC7Z", 2)
    alice = User.objects.get(username="alice")

    shown = {
        path: subtotals_shown(admin_client.get(path).text)
        for path in [
            "/admin/carts/user/",
            "/admin/carts/cart/",
            f"/admin/carts/user/{alice.pk}/change/",
        ]
    }

    assert {path: sorted(amounts) for path, amounts in shown.items()} == {
        # The operator and the staff caller: empty carts.
        "/admin/carts/user/": ["0.00", "0.00", "39.98", "6.00"],
        "/admin/carts/cart/": ["39.98", "6.00"],
        f"/admin/carts/user/{alice.pk}/change/": ["6.00"],
    }


def test_user_page_lists_cart_lines_in_add_order_with_totals(admin_client, catalog):
    alice = User.objects.create(username="alice")
    for product_id, quantity in [("OLJCESPC7Z", 2), ("L9ECAV7KIM", 1)]:
        CartItem.objects.create(user=alice, product_id=product_id, quantity=quantity)

    response = admin_client.get(f"/admin/carts/user/{alice.pk}/change/")

    page = page_text(response)
    assert page.index("OLJCESPC7Z Sunglasses") < page.index("L9ECAV7KIM")
    assert '<td class="field-line_total"><p>39.98</p></td>' in page
    price = Product.objects.get(pk="L9ECAV7KIM").price
    assert f'<div class="readonly">{Decimal("39.98") + price}</div>' in page
    assert f'href="/admin/carts/cartitem/add/?user={alice.pk}"' in page


@pytest.fixture
def alice_line(catalog) -> CartItem:
    alice = User.objects.create(username="alice")
    return CartItem.objects.create(user=alice, product_id="OLJCESPC7Z", quantity=2)


def test_changing_a_quantity_on_the_user_page_saves_it(admin_client, alice_line):
    response = admin_client.post(
        f"/admin/carts/user/{alice_line.user_id}/change/",
        user_change_data(alice_line.user, {alice_line.pk: 7}),
    )

    assert response.status_code == 302
    alice_line.refresh_from_db()
    assert alice_line.quantity == 7


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (1001, "A cart line may hold at most 1000 units."),
        (0, "The quantity must be at least 1, not 0."),
    ],
)
def test_user_page_refuses_a_quantity_outside_the_limits(
    admin_client, alice_line, quantity, message
):
    response = admin_client.post(
        f"/admin/carts/user/{alice_line.user_id}/change/",
        user_change_data(alice_line.user, {alice_line.pk: quantity}),
    )

    assert response.status_code == 200
    assert message in page_text(response)
    alice_line.refresh_from_db()
    assert alice_line.quantity == 2


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (1001, "A cart line may hold at most 1000 units."),
        (0, "The quantity must be at least 1, not 0."),
    ],
)
def test_cart_line_page_refuses_a_quantity_outside_the_limits(
    admin_client, alice_line, quantity, message
):
    response = admin_client.post(
        f"/admin/carts/cartitem/{alice_line.pk}/change/",
        {"user": alice_line.user_id, "product": "OLJCESPC7Z", "quantity": quantity},
    )

    assert response.status_code == 200
    assert message in page_text(response)
    alice_line.refresh_from_db()
    assert alice_line.quantity == 2


def test_quantity_limit_follows_the_setting(admin_client, alice_line, settings):
    settings.CART_MAX_LINE_QUANTITY = 5
    path = f"/admin/carts/cartitem/{alice_line.pk}/change/"
    body = {"user": alice_line.user_id, "product": "OLJCESPC7Z"}

    refused = admin_client.post(path, {**body, "quantity": 6})
    accepted = admin_client.post(path, {**body, "quantity": 5})

    assert "A cart line may hold at most 5 units." in refused.text
    assert accepted.status_code == 302
    alice_line.refresh_from_db()
    assert alice_line.quantity == 5


def test_adding_a_second_line_of_one_product_is_a_form_error(admin_client, alice_line):
    response = admin_client.post(
        "/admin/carts/cartitem/add/",
        {"user": alice_line.user_id, "product": "OLJCESPC7Z", "quantity": 1},
    )

    assert response.status_code == 200
    assert "Cart item with this User and Product already exists." in page_text(response)
    assert CartItem.objects.filter(user=alice_line.user).count() == 1


def test_moving_a_line_onto_a_product_already_in_the_cart_is_a_form_error(
    admin_client, alice_line
):
    other = CartItem.objects.create(
        user=alice_line.user, product_id="L9ECAV7KIM", quantity=1
    )

    response = admin_client.post(
        f"/admin/carts/cartitem/{other.pk}/change/",
        {"user": alice_line.user_id, "product": "OLJCESPC7Z", "quantity": 1},
    )

    assert response.status_code == 200
    assert "Cart item with this User and Product already exists." in page_text(response)
    other.refresh_from_db()
    assert other.product_id == "L9ECAV7KIM"


def test_a_line_stays_in_the_cart_it_was_added_to(admin_client, alice_line):
    bob = User.objects.create(username="bob")

    response = admin_client.post(
        f"/admin/carts/cartitem/{alice_line.pk}/change/",
        {"user": bob.pk, "product": "OLJCESPC7Z", "quantity": 7},
    )

    assert response.status_code == 302
    alice_line.refresh_from_db()
    assert alice_line.user.username == "alice"
    assert alice_line.quantity == 7
    assert not CartItem.objects.filter(user=bob).exists()


def test_a_new_line_beyond_the_line_limit_is_a_form_error(
    admin_client, alice_line, settings
):
    settings.CART_MAX_LINES = 1

    response = admin_client.post(
        "/admin/carts/cartitem/add/",
        {"user": alice_line.user_id, "product": "L9ECAV7KIM", "quantity": 1},
    )

    assert response.status_code == 200
    assert "A cart may hold at most 1 lines." in page_text(response)
    assert CartItem.objects.filter(user=alice_line.user).count() == 1


def test_a_full_cart_still_takes_quantity_changes(admin_client, alice_line, settings):
    settings.CART_MAX_LINES = 1

    response = admin_client.post(
        f"/admin/carts/cartitem/{alice_line.pk}/change/",
        {"user": alice_line.user_id, "product": "OLJCESPC7Z", "quantity": 9},
    )

    assert response.status_code == 302
    alice_line.refresh_from_db()
    assert alice_line.quantity == 9


def test_a_new_line_of_an_inactive_product_is_a_form_error(admin_client, alice_line):
    Product.objects.filter(pk="L9ECAV7KIM").update(active=False)

    response = admin_client.post(
        "/admin/carts/cartitem/add/",
        {"user": alice_line.user_id, "product": "L9ECAV7KIM", "quantity": 1},
    )

    assert response.status_code == 200
    assert "Product &#x27;L9ECAV7KIM&#x27; is inactive" in page_text(response)
    assert CartItem.objects.filter(user=alice_line.user).count() == 1


def test_adding_a_line_in_the_admin_within_the_rules_creates_it(
    admin_client, alice_line
):
    response = admin_client.post(
        "/admin/carts/cartitem/add/",
        {"user": alice_line.user_id, "product": "L9ECAV7KIM", "quantity": 1000},
    )

    assert response.status_code == 302
    assert CartItem.objects.get(
        user=alice_line.user, product="L9ECAV7KIM"
    ).quantity == (1000)


def test_cart_lines_can_be_searched_by_username_and_product(admin_client, alice_line):
    CartItem.objects.create(
        user=User.objects.create(username="bob"), product_id="L9ECAV7KIM", quantity=1
    )

    def found(query: str) -> set[tuple[str, str]]:
        response = admin_client.get("/admin/carts/cartitem/", {"q": query})
        lines = response.context["cl"].result_list
        return {(line.user.username, line.product_id) for line in lines}

    assert found("alice") == {("alice", "OLJCESPC7Z")}
    assert found("L9ECAV7KIM") == {("bob", "L9ECAV7KIM")}
    assert found("sunglasses") == {("alice", "OLJCESPC7Z")}


def test_product_price_and_active_are_editable_in_the_list(admin_client, catalog):
    products = list(Product.objects.order_by("id"))
    data = {
        "form-TOTAL_FORMS": len(products),
        "form-INITIAL_FORMS": len(products),
        "form-MIN_NUM_FORMS": 0,
        "form-MAX_NUM_FORMS": 1000,
        "_save": "Save",
    }
    for index, product in enumerate(products):
        data[f"form-{index}-id"] = product.pk
        data[f"form-{index}-price"] = product.price
        if product.active:
            data[f"form-{index}-active"] = "on"
    data["form-0-price"] = "12.34"
    data.pop("form-0-active")

    response = admin_client.post("/admin/carts/product/", data)

    assert response.status_code == 302
    changed = Product.objects.get(pk=products[0].pk)
    assert (changed.price, changed.active) == (Decimal("12.34"), False)


def test_user_list_sorts_by_cart_subtotal(admin_client, catalog):
    for username, quantity in [("big", 9), ("small", 1), ("middle", 4)]:
        user = User.objects.create(username=username)
        CartItem.objects.create(user=user, product_id="L9ECAV7KIM", quantity=quantity)
    subtotal_column = UserAdmin.list_display.index("cart_subtotal") + 1

    response = admin_client.get("/admin/carts/user/", {"o": f"-{subtotal_column}"})

    names = [user.username for user in response.context["cl"].result_list]
    assert names == ["big", "middle", "small", "admin"]


def test_cart_line_list_filters_by_product_and_update_day(admin_client, alice_line):
    CartItem.objects.create(
        user=User.objects.create(username="bob"), product_id="L9ECAV7KIM", quantity=1
    )
    day = alice_line.updated_at

    response = admin_client.get(
        "/admin/carts/cartitem/",
        {
            "product__id__exact": "OLJCESPC7Z",
            "updated_at__year": day.year,
            "updated_at__month": day.month,
            "updated_at__day": day.day,
        },
    )

    assert list(response.context["cl"].result_list) == [alice_line]


def test_deleting_users_from_the_list_removes_their_carts(admin_client, alice_line):
    response = admin_client.post(
        "/admin/carts/user/",
        {
            "action": "delete_selected",
            "_selected_action": [alice_line.user_id],
            "post": "yes",
        },
    )

    assert response.status_code == 302
    assert not CartItem.objects.exists()


def test_add_line_link_opens_the_form_for_that_user(admin_client, alice_line):
    response = admin_client.get(
        "/admin/carts/cartitem/add/", {"user": alice_line.user_id}
    )

    assert response.context["adminform"].form["user"].value() == str(alice_line.user_id)
