"""The API's documentation: the published contract (docs/API.md) and the
OpenAPI document name the same operations, `/` leads to the docs, and Swagger
UI renders every operation from assets the service serves itself, in a real
browser, with no request leaving the host."""

import json
import re
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest
from rest_framework.test import APIClient

from devtools.browser import chromium_page
from devtools.liveservice import ROOT

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# `METHOD /path` in backticks, the path with <parameters> and nothing after it
# (an example such as `POST /cart/u1?product_id=...` is not an operation).
OPERATION = re.compile(rf"`({'|'.join(HTTP_METHODS)}) (/[\w/<>.-]*)`")
# Served by the project around the API, not operations of it: the schema does
# not describe itself, its viewer, or the redirect to them.
DOCUMENTATION_ROUTES = {("GET", "/api/schema"), ("GET", "/api/docs")}


def openapi_schema() -> dict[str, Any]:
    response = APIClient().get(
        "/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


def openapi_operations(schema: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, /path/<param>) of every operation, in the contract's notation."""
    return {
        (method.upper(), re.sub(r"\{(\w+)\}", r"<\1>", path))
        for path, item in schema["paths"].items()
        for method in item
        if method.upper() in HTTP_METHODS
    }


def contract_operations() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "API.md").read_text()
    return set(OPERATION.findall(text))


@pytest.mark.repository
def test_the_contract_and_the_openapi_document_name_the_same_operations(db):
    in_openapi = openapi_operations(openapi_schema())
    in_contract = contract_operations()

    assert in_contract >= DOCUMENTATION_ROUTES
    assert in_openapi - in_contract == set(), "missing from docs/API.md"
    assert in_contract - DOCUMENTATION_ROUTES - in_openapi == set(), (
        "in docs/API.md, not in /api/schema"
    )


@pytest.mark.repository
def test_the_openapi_document_describes_the_contract_it_implements(db):
    contract_version = re.search(
        r"^# .*\(v(\d+)\)$", (ROOT / "docs" / "API.md").read_text(), flags=re.M
    )
    info = openapi_schema()["info"]

    assert contract_version is not None
    assert info["version"].split(".")[0] == contract_version[1]
    for feature in ["guests", "merge", "If-Match", "Idempotency-Key", "gRPC"]:
        assert feature in info["description"]


def test_the_root_redirects_to_the_api_docs(db):
    response = APIClient().get("/")

    assert response.status_code == 302
    assert response["Location"] == "/api/docs"


def test_the_docs_page_takes_every_asset_from_the_service(db):
    response = APIClient().get("/api/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any("swagger-ui-bundle.js" in asset for asset in assets)
    assert [asset for asset in assets if not asset.startswith("/static/")] == []
    assert "http://" not in page and "https://" not in page


@pytest.mark.browser
def test_swagger_ui_renders_every_operation_with_no_request_leaving_the_host(
    chromium, cart_service
):
    with urllib.request.urlopen(f"{cart_service}/api/schema?format=json") as answer:
        expected = openapi_operations(json.loads(answer.read()))
    requested: list[str] = []

    with chromium_page(chromium) as page:
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{cart_service}/")
        page.wait_for_selector(".opblock")
        shown = page.eval_on_selector_all(
            ".opblock",
            """blocks => blocks.map(block => [
                block.querySelector('.opblock-summary-method').innerText,
                block.querySelector('.opblock-summary-path').dataset.path,
            ])""",
        )
        title = page.inner_text(".info .title")

    assert page.url == f"{cart_service}/api/docs"
    assert "Cart service API" in title
    assert {
        (method, re.sub(r"\{(\w+)\}", r"<\1>", path)) for method, path in shown
    } == (expected)
    assert len(shown) == len(expected)
    over_the_network = [
        url
        for url in requested
        if urlsplit(url).scheme in {"http", "https", "ws", "wss"}
    ]
    assert any("swagger-ui-bundle.js" in url for url in over_the_network)
    assert [
        url
        for url in over_the_network
        if urlsplit(url).netloc != urlsplit(cart_service).netloc
    ] == []
