"""CORS for pages on other origins (docs/API.md, "Browser clients"): preflights,
the headers on every answer (errors included, on gunicorn's lean path too), and
the settings that refuse to load."""

import json

import pytest

from carts.demo import LOAFERS
from devtools.liveservice import Gunicorn, prepare_database
from devtools.pgcluster import Cluster

from .test_production_settings import run_python

SHOP = "https://shop.example.com"
ELSEWHERE = "https://elsewhere.example.net"
EXPOSED = "ETag, Idempotent-Replayed, Retry-After, WWW-Authenticate, X-Request-ID"


def cors_headers(headers) -> dict[str, str]:
    return {
        name.lower(): value
        for name, value in headers.items()
        if name.lower().startswith("access-control-")
    }


def preflight(client, origin: str, method: str, headers: str):
    return client.options(
        "/cart/alice",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


@pytest.fixture
def shop_allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = [SHOP]


def test_a_preflight_from_a_listed_origin_allows_the_contracts_headers(
    client, shop_allowed
):
    response = preflight(
        client, SHOP, "PUT", "authorization,content-type,if-match,idempotency-key"
    )

    assert response.status_code == 200
    assert cors_headers(response.headers) == {
        "access-control-allow-origin": SHOP,
        "access-control-allow-methods": "DELETE, GET, OPTIONS, POST, PUT",
        "access-control-allow-headers": "accept, authorization, content-type, "
        "idempotency-key, if-match, if-none-match, x-request-id",
        "access-control-expose-headers": EXPOSED,
        "access-control-max-age": "7200",
    }


@pytest.mark.parametrize("origin", [ELSEWHERE, "https://shop.example.com:8443"])
def test_a_preflight_from_an_origin_not_listed_gets_no_cors_headers(
    client, shop_allowed, origin
):
    response = preflight(client, origin, "POST", "authorization,content-type")

    assert cors_headers(response.headers) == {}
    assert "origin" in response.headers["Vary"].lower()


def test_with_no_origins_listed_no_origin_gets_cors_headers(client, settings):
    settings.CORS_ALLOWED_ORIGINS = []

    response = preflight(client, SHOP, "GET", "authorization")

    assert cors_headers(response.headers) == {}


def test_a_listed_origins_answers_expose_the_contracts_headers(alice, shop_allowed):
    response = alice.get("/cart/alice", headers={"Origin": SHOP})

    assert response.status_code == 200
    assert cors_headers(response.headers) == {
        "access-control-allow-origin": SHOP,
        "access-control-expose-headers": EXPOSED,
    }


@pytest.mark.parametrize("origin", [None, SHOP])
def test_every_answer_varies_by_origin_and_only_a_listed_origin_gets_cors_headers(
    alice, shop_allowed, origin
):
    response = alice.get("/cart/alice", headers={"Origin": origin} if origin else {})

    assert response.status_code == 200
    assert "origin" in response.headers["Vary"].lower()
    assert bool(cors_headers(response.headers)) == (origin is not None)


def test_a_guest_is_created_from_a_listed_origin(client, db, shop_allowed):
    """POST /guests takes no credentials: the full stack, not the lean path."""
    response = client.post("/guests", headers={"Origin": SHOP})

    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == SHOP


def settings_with(env: dict[str, str], expression: str):
    return run_python(
        [
            "-c",
            "import django, json; django.setup(); "
            f"from django.conf import settings as s; print(json.dumps({expression}))",
        ],
        {"DJANGO_SECRET_KEY": "test-only-not-secret", **env},
    )


@pytest.mark.repository
def test_by_default_no_origin_is_allowed_and_never_with_credentials():
    result = settings_with(
        {},
        "[s.CORS_ALLOWED_ORIGINS, s.CORS_ALLOW_ALL_ORIGINS, s.CORS_ALLOW_CREDENTIALS]",
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [[], False, False]


@pytest.mark.repository
def test_listed_origins_are_read_from_the_environment():
    origins = f"{SHOP}, http://127.0.0.1:8001"
    result = settings_with(
        {"CART_CORS_ALLOWED_ORIGINS": origins}, "s.CORS_ALLOWED_ORIGINS"
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [SHOP, "http://127.0.0.1:8001"]


@pytest.mark.repository
def test_a_wildcard_refuses_to_load_in_production_and_allows_any_origin_in_debug():
    production = settings_with({"CART_CORS_ALLOWED_ORIGINS": "*"}, "1")
    debug = settings_with(
        {"CART_CORS_ALLOWED_ORIGINS": "*", "DJANGO_DEBUG": "1"},
        "[s.CORS_ALLOW_ALL_ORIGINS, s.CORS_ALLOW_CREDENTIALS]",
    )

    assert production.returncode != 0
    assert "ImproperlyConfigured: CART_CORS_ALLOWED_ORIGINS='*'" in production.stderr
    assert debug.returncode == 0, debug.stderr
    assert json.loads(debug.stdout) == [True, False]


@pytest.mark.repository
@pytest.mark.parametrize(
    "origins",
    [
        f"{SHOP}/",
        "shop.example.com",
        f"{SHOP}/cart",
        "ftp://shop.example.com",
        "*," + SHOP,
    ],
)
def test_a_value_that_is_not_an_origin_refuses_to_load(origins):
    result = settings_with(
        {"CART_CORS_ALLOWED_ORIGINS": origins, "DJANGO_DEBUG": "1"}, "1"
    )

    assert result.returncode != 0
    assert "CART_CORS_ALLOWED_ORIGINS takes origins" in result.stderr


@pytest.mark.pg_server
def test_on_gunicorn_every_answer_to_a_listed_origin_carries_the_cors_headers(
    tmp_path,
):
    """Token requests take gunicorn's lean path (cartproject/lean.py), which
    keeps the CORS middleware: a page can read every refusal, down to the
    database's 503."""
    with Cluster() as cluster:
        tokens = prepare_database(cluster.url)
        demo, staff = tokens["demo"], tokens["staff"]
        env = {"CART_CORS_ALLOWED_ORIGINS": SHOP, "CART_THROTTLE_USER": "8/min"}
        with Gunicorn(cluster.url, tmp_path, workers=1, env=env) as server:

            def ask(method, path, token=demo, body=None, **headers):
                return server.request(
                    method,
                    path,
                    token=token,
                    body=body,
                    headers={"Origin": SHOP, **headers},
                )

            etag = ask("GET", "/cart/demo").headers["etag"]
            answers = [
                ask("GET", "/cart/demo"),
                ask("GET", "/cart/demo", token="not-a-token"),
                ask("POST", "/cart/demo", body={"product_id": "NOPE"}),
                ask("PUT", f"/cart/demo/items/{LOAFERS}", body={"quantity": 10**4}),
                ask("DELETE", "/cart/demo", **{"If-Match": '"0-0"'}),
                ask("POST", "/cart/demo", body={"product_id": "x" * 70_000}),
            ]
            while answers[-1].status != 429 and len(answers) < 30:
                answers.append(ask("GET", "/cart/demo", **{"If-None-Match": etag}))
            unlisted = ask("GET", "/cart/demo", token=staff, Origin=ELSEWHERE)
            cluster.stop()
            answers.append(ask("GET", "/cart/demo", token=staff))
            preflight_answer = server.request(
                "OPTIONS",
                "/cart/demo",
                headers={
                    "Origin": SHOP,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,idempotency-key",
                },
            )

    statuses = [answer.status for answer in answers]
    assert {200, 401, 404, 409, 412, 413, 429, 503} <= set(statuses), statuses
    for answer in answers:
        assert answer.headers.get("access-control-allow-origin") == SHOP, answer
        assert answer.headers.get("access-control-expose-headers") == EXPOSED
    assert cors_headers(unlisted.headers) == {}
    assert preflight_answer.status == 200
    assert preflight_answer.headers["access-control-allow-origin"] == SHOP
    assert "idempotency-key" in preflight_answer.headers["access-control-allow-headers"]
