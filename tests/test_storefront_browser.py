"""The reference storefront (docs/storefront.md) in headless Chromium.

Two real gunicorns on the test database: one serves the page (its origin), the
other the API on another port, listing the page's origin in
CART_CORS_ALLOWED_ORIGINS; the page finds the API from `?api=`. So every call
the page makes is cross-origin, with real preflights. The API's limits are
made small (3 lines, 10 per line) so that a merge clamps and drops.

ORM work (accounts, catalog edits) happens outside the browser's thread
(devtools/browser.py says why). The screenshot goes to the test's temporary
directory, or to STOREFRONT_SCREENSHOT (`make screenshot` retakes
docs/storefront.png that way): no test writes a tracked file.
"""

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import Page, expect
from rest_framework.authtoken.models import Token

from carts.demo import LOAFERS, SHAKERS, SUNGLASSES, TANK_TOP
from carts.models import Product
from devtools.browser import chromium_page
from devtools.liveservice import Gunicorn

from .conftest import database_url_for_tests

pytestmark = pytest.mark.browser

HAIRDRYER = "2ZYFJ3GM2N"
JAR = "9SIQT8TOJO"
STOREFRONT = "/storefront/"


@pytest.fixture(scope="module")
def servers(django_db_setup, tmp_path_factory):
    """(page_server, api_server): the page's origin, and the API's."""
    database_url = database_url_for_tests()
    page_dir, api_dir = tmp_path_factory.mktemp("page"), tmp_path_factory.mktemp("api")
    with Gunicorn(database_url, page_dir, workers=1) as page_server:
        limits = {"CART_MAX_LINES": "3", "CART_MAX_LINE_QUANTITY": "10"}
        cors = {"CART_CORS_ALLOWED_ORIGINS": origin(page_server)}
        with Gunicorn(database_url, api_dir, env=limits | cors) as api_server:
            yield page_server, api_server


@pytest.fixture
def demo_token(transactional_db) -> str:
    """The demo shopper's token, as `make run` prints it (bootstrap_demo)."""
    call_command("loaddata", "catalog", verbosity=0)
    call_command("bootstrap_demo", stdout=io.StringIO())
    return Token.objects.get(user__username="demo").key


def origin(server: Gunicorn) -> str:
    return f"http://127.0.0.1:{server.port}"


def outside_the_browser(work) -> None:
    """Run ORM `work` in a thread of its own: the browser's thread runs an
    asyncio loop, where Django refuses ORM calls."""

    def run() -> None:
        try:
            work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(run).result()


def open_storefront(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def line(page: Page, product_id: str):
    return page.locator(f"#cart tr[data-product-id='{product_id}']")


def add(page: Page, product_id: str) -> None:
    page.click(f"#catalog li[data-product-id='{product_id}'] button.add")


def set_quantity(page: Page, product_id: str, quantity: int) -> None:
    field = line(page, product_id).locator("input.quantity")
    field.fill(str(quantity))
    field.press("Tab")  # the change event, as a shopper leaving the field


def expect_lines(page: Page, lines: list[tuple[str, int]]) -> None:
    rows = page.locator("#cart tbody tr")
    expect(rows).to_have_count(len(lines))
    for product_id, quantity in lines:
        expect(line(page, product_id).locator("input.quantity")).to_have_value(
            str(quantity)
        )


def expect_error(page: Page, code: str) -> None:
    expect(page.locator("#message")).to_have_attribute("data-code", code)


def test_a_guest_shops_signs_in_merges_and_checks_out_from_another_origin(
    chromium, servers, demo_token, tmp_path
):
    page_server, api_server = servers
    api = origin(api_server)
    for product_id, quantity in [(SUNGLASSES, 9), (TANK_TOP, 1)]:
        answer = api_server.request(
            "POST",
            "/cart/demo",
            token=demo_token,
            body={"product_id": product_id, "quantity": quantity},
        )
        assert answer.status == 201
    # What the page must show when it asks for too many (nothing changes).
    too_many = api_server.request(
        "PUT", f"/cart/demo/items/{LOAFERS}", token=demo_token, body={"quantity": 11}
    )
    assert too_many.status == 409

    with chromium_page(chromium) as page:
        api_calls = []
        page.on(
            "request",
            lambda r: api_calls.append(r.url) if "/cart/" in r.url else None,
        )
        open_storefront(page, f"{origin(page_server)}{STOREFRONT}?api={api}")
        assert page.url.startswith(
            f"{origin(page_server)}/static/storefront/index.html?api="
        )
        assert page.locator("#catalog li").count() == 9
        expect(page.locator("#account-name")).to_have_text("a new guest")

        # A guest cart: the first add creates the guest.
        add(page, SUNGLASSES)
        expect_lines(page, [(SUNGLASSES, 1)])
        add(page, SUNGLASSES)
        add(page, LOAFERS)
        add(page, HAIRDRYER)
        expect_lines(page, [(SUNGLASSES, 2), (LOAFERS, 1), (HAIRDRYER, 1)])
        expect(page.locator("#account-name")).to_contain_text("guest guest-")
        guest_token = page.evaluate(
            "Object.entries(localStorage).find(([k]) => k.startsWith('cart-account'))"
        )[1]

        # Refusals are shown with their code, and the cart as it is.
        add(page, JAR)
        expect_error(page, "cart_line_limit_exceeded")
        set_quantity(page, LOAFERS, 11)
        expect(page.locator("#message")).to_have_text(
            f"{too_many.body['errors'][0]['detail']} (409 quantity_limit_exceeded)"
        )
        expect_lines(page, [(SUNGLASSES, 2), (LOAFERS, 1), (HAIRDRYER, 1)])

        # Signing in merges: 9 + 2 sunglasses are cut to 10; the third new
        # line does not fit.
        page.fill("#sign-in-token", demo_token)
        page.click("#sign-in button[type=submit]")
        expect(page.locator("#account-name")).to_have_text("demo")
        report = page.locator("#merge-report")
        expect(report).to_contain_text("Sunglasses: 11 wanted, 10 kept")
        expect(report).to_contain_text(
            "Hairdryer (1) not added: cart_line_limit_exceeded"
        )
        expect_lines(page, [(SUNGLASSES, 10), (TANK_TOP, 1), (LOAFERS, 1)])
        expect(page.locator("#sign-in")).to_be_hidden()

        # A price changes: the page warns and holds checkout back until the
        # shopper accepts it.
        outside_the_browser(
            lambda: Product.objects.filter(pk=LOAFERS).update(price="99.50")
        )
        page.click("#refresh")
        warning = page.locator("#warnings li[data-code=price_changed]")
        expect(warning).to_have_text("Loafers: the price changed from 89.99 to 99.50.")
        expect(page.locator("#checkout")).to_be_disabled()
        screenshot = Path(
            os.environ.get("STOREFRONT_SCREENSHOT") or tmp_path / "storefront.png"
        )
        page.screenshot(path=screenshot, full_page=True)
        assert screenshot.stat().st_size > 10_000
        page.click("#reprice")
        expect(page.locator("#warnings li")).to_have_count(0)

        # Checkout: hold, then complete.
        page.click("#checkout")
        expect(page.locator("#hold")).to_be_visible()
        expect(page.locator("#hold-amount")).to_have_text("318.39 USD")
        expect(line(page, LOAFERS).locator("input.quantity")).to_be_disabled()
        held = api_server.request(
            "POST", "/cart/demo", token=demo_token, body={"product_id": JAR}
        )
        assert held.status == 409
        page.click("#complete")
        expect(page.locator("#order-total")).to_have_text("318.39 USD")
        expect_lines(page, [])
        expect(page.locator("#hold")).to_be_hidden()

    assert api_calls
    assert all(url.startswith(f"{api}/cart/") for url in api_calls), api_calls
    cart = api_server.request("GET", "/cart/demo", token=demo_token)
    assert (cart.body["items"], cart.body["checkout"]) == ([], None)
    assert api_server.request("GET", "/cart/demo", token=guest_token).status == 401
    # The browser asked first: preflights for the headers the page sends.
    assert '"OPTIONS /cart/demo/merge HTTP/1.1" 200' in api_server.log()


def test_a_change_from_another_tab_makes_the_next_change_412_and_the_page_recovers(
    chromium, servers, demo_token
):
    """Same origin this time: the page of the API's own server, no `?api=`."""
    _, api_server = servers
    url = f"{origin(api_server)}{STOREFRONT}"
    with chromium_page(chromium) as first:
        open_storefront(first, url)
        add(first, SHAKERS)
        expect_lines(first, [(SHAKERS, 1)])

        # The second tab has the same guest (the origin's localStorage; here
        # a second context of the browser, starting with the first's).
        browser = first.context.browser
        assert browser is not None
        second = browser.new_context(
            storage_state=first.context.storage_state()
        ).new_page()
        open_storefront(second, url)
        expect_lines(second, [(SHAKERS, 1)])
        set_quantity(second, SHAKERS, 3)
        expect_lines(second, [(SHAKERS, 3)])

        set_quantity(first, SHAKERS, 2)
        expect_error(first, "precondition_failed")
        expect(first.locator("#message")).to_contain_text("changed in another tab")
        expect_lines(first, [(SHAKERS, 3)])

        set_quantity(first, SHAKERS, 5)
        expect_lines(first, [(SHAKERS, 5)])
        expect(first.locator("#message")).to_have_text(
            "Salt & Pepper Shakers: quantity 5."
        )
        second.click("#refresh")
        expect_lines(second, [(SHAKERS, 5)])


def test_an_add_whose_answer_is_lost_is_retried_with_its_key_and_applied_once(
    chromium, servers, demo_token
):
    """The first attempt reaches the API, which applies it; its answer is cut
    off on the way back. (Playwright answers the preflights of the requests it
    intercepts itself: CORS is the other tests' business.)"""
    page_server, api_server = servers
    api = origin(api_server)
    keys = []

    def lose_first_answer(route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the API applies it; the page never hears back
            route.abort("connectionreset")
        else:
            route.continue_()

    with chromium_page(chromium) as page:
        page.route(f"{api}/cart/*", lose_first_answer)
        open_storefront(page, f"{origin(page_server)}{STOREFRONT}?api={api}")
        add(page, LOAFERS)
        expect_lines(page, [(LOAFERS, 1)])
        expect(page.locator("#message")).to_have_text(
            "Added Loafers (a retry: the first attempt had been applied)."
        )
        guest = page.evaluate(
            "Object.values(localStorage).map(JSON.parse).find(a => a.guest)"
        )

    assert len(keys) == 2 and keys[0] == keys[1], keys
    cart = api_server.request("GET", f"/cart/{guest['userId']}", token=guest["token"])
    assert [(i["product_id"], i["quantity"]) for i in cart.body["items"]] == [
        (LOAFERS, 1)
    ]


def test_an_api_that_does_not_list_the_pages_origin_is_an_error_the_page_shows(
    chromium, servers, demo_token
):
    """The page served by the API's server, the API named being the page
    server's, which lists no origin: the browser refuses every answer."""
    page_server, api_server = servers
    with chromium_page(chromium) as page:
        open_storefront(
            page, f"{origin(api_server)}{STOREFRONT}?api={origin(page_server)}"
        )
        expect_error(page, "no_answer")
        expect(page.locator("#message")).to_contain_text(
            f"does CART_CORS_ALLOWED_ORIGINS list {origin(api_server)}?"
        )
        expect(page.locator("#catalog li")).to_have_count(0)
