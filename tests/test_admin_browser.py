"""An operator fixes a cart in the admin, in headless Chromium, against gunicorn.

The service runs as in production: a real gunicorn (DEBUG off, WhiteNoise
serving the admin's static files) on 127.0.0.1, on the test database, and
devtools.browser's Debian Chromium. In CI a missing browser fails the test.

Every ORM call here (fixtures: accounts, tokens, catalog) happens before the
browser starts and after it stops, so DJANGO_ALLOW_ASYNC_UNSAFE is not needed;
the server side has no such issue, being another process.

The screenshot goes to the test's temporary directory, or to ADMIN_SCREENSHOT
(`make screenshot` retakes docs/admin-cart.png that way): no test writes a
tracked file.
"""

import io
import json
import os
import urllib.request
from decimal import Decimal
from pathlib import Path
from urllib.error import HTTPError

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from carts.models import User
from devtools.browser import chromium_page

ADMIN_PASSWORD = "operator-test-password"

pytestmark = pytest.mark.browser


def api(base_url: str, token: str, method: str, path: str, body=None):
    """One REST call; returns (status, decoded JSON body)."""
    request = urllib.request.Request(
        base_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def demo_accounts(transactional_db, monkeypatch) -> tuple[int, str]:
    """The operator's way in, as docs/admin.md gives it: bootstrap_demo creates
    `staff` (password from CART_ADMIN_PASSWORD) and the shopper `demo`."""
    call_command("loaddata", "catalog", verbosity=0)
    monkeypatch.setenv("CART_ADMIN_PASSWORD", ADMIN_PASSWORD)
    call_command("bootstrap_demo", stdout=io.StringIO())
    shopper = User.objects.get(username="demo")
    return shopper.pk, Token.objects.get(user=shopper).key


def test_operator_changes_a_quantity_in_the_admin_and_the_api_sees_it(
    chromium, cart_service, demo_accounts, tmp_path
):
    shopper_id, token = demo_accounts
    for product_id, quantity in [
        ("OLJCESPC7Z", 2),
        ("L9ECAV7KIM", 1),
        ("2ZYFJ3GM2N", 3),
    ]:
        status, _ = api(
            cart_service,
            token,
            "POST",
            "/cart/demo",
            {"product_id": product_id, "quantity": quantity},
        )
        assert status == 201
    _, cart = api(cart_service, token, "GET", "/cart/demo")

    with chromium_page(chromium) as page:
        static = []
        page.on(
            "response",
            lambda r: static.append((r.url, r.status)) if "/static/" in r.url else None,
        )
        page.goto(
            f"{cart_service}/admin/login/?next=/admin/carts/user/{shopper_id}/change/"
        )
        page.fill("#id_username", "staff")
        page.fill("#id_password", ADMIN_PASSWORD)
        with page.expect_navigation():
            page.click("input[type=submit]")

        assert page.inner_text("#content > h2") == "demo"
        products = page.locator("#cart_items-group td.field-product").all_inner_texts()
        assert [text.split()[0] for text in products] == [
            line["product_id"] for line in cart["items"]
        ]
        assert page.inner_text(".field-cart_subtotal .readonly") == cart["subtotal"]

        page.fill("#id_cart_items-1-quantity", "5")
        with page.expect_navigation():
            page.click("input[name=_continue]")

        assert "was changed successfully" in page.inner_text(".messagelist")
        unit_price = Decimal(cart["items"][1]["unit_price"])
        expected_subtotal = Decimal(cart["subtotal"]) + 4 * unit_price
        assert page.inner_text(".field-cart_subtotal .readonly") == str(
            expected_subtotal
        )
        # Styled: the stylesheets came from gunicorn (WhiteNoise) and apply.
        assert any(url.endswith("/admin/css/base.css") for url, _ in static)
        assert all(status == 200 for _, status in static), static
        header = page.eval_on_selector(
            "#header", "e => getComputedStyle(e).backgroundColor"
        )
        assert header not in {"", "rgba(0, 0, 0, 0)", "transparent"}

        screenshot = Path(os.environ.get("ADMIN_SCREENSHOT") or tmp_path / "admin.png")
        page.screenshot(path=screenshot, full_page=True)
        assert screenshot.stat().st_size > 10_000

    status, cart_after = api(cart_service, token, "GET", "/cart/demo")
    assert status == 200
    assert [(line["product_id"], line["quantity"]) for line in cart_after["items"]] == [
        ("OLJCESPC7Z", 2),
        ("L9ECAV7KIM", 5),
        ("2ZYFJ3GM2N", 3),
    ]
    assert cart_after["subtotal"] == str(expected_subtotal)


def test_a_price_changed_in_the_admin_warns_the_cart_until_repriced(
    chromium, cart_service, demo_accounts
):
    _, token = demo_accounts
    status, _ = api(
        cart_service, token, "POST", "/cart/demo", {"product_id": "L9ECAV7KIM"}
    )
    assert status == 201

    with chromium_page(chromium) as page:
        page.goto(f"{cart_service}/admin/login/?next=/admin/carts/product/")
        page.fill("#id_username", "staff")
        page.fill("#id_password", ADMIN_PASSWORD)
        with page.expect_navigation():
            page.click("input[type=submit]")
        row = page.locator("#result_list tr", has_text="L9ECAV7KIM")
        row.locator("input[name$='-price']").fill("99.50")
        with page.expect_navigation():
            page.click("input[name=_save]")
        assert "was changed successfully" in page.inner_text(".messagelist")

    _, cart = api(cart_service, token, "GET", "/cart/demo")
    assert cart["warnings"] == [
        {
            "code": "price_changed",
            "product_id": "L9ECAV7KIM",
            "added_unit_price": "89.99",
            "unit_price": "99.50",
        }
    ]
    assert cart["subtotal"] == "99.50"
    status, repriced = api(cart_service, token, "POST", "/cart/demo/reprice")
    assert (status, repriced["warnings"]) == (200, [])
    assert repriced["items"][0]["added_unit_price"] == "99.50"
