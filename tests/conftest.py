import os
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.models import CartItem, User

from .liveservice import Gunicorn

# tests/stack needs the compose stack; scripts/container-check starts it and
# runs that directory with CART_STACK=1.
collect_ignore = [] if os.environ.get("CART_STACK") else ["stack"]


@pytest.fixture(scope="session", autouse=True)
def _require_postgresql(django_db_setup, django_db_blocker):
    """The suite is about PostgreSQL's behaviour; never let it pass on SQLite."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.exit(
                "The tests need PostgreSQL: run `make test`, or set DATABASE_URL.",
                returncode=2,
            )


@pytest.fixture(autouse=True)
def _fresh_throttle_cache(settings, tmp_path):
    """Each test starts with no rate-limit counters (same backend as production)."""
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "throttle"),
        },
    }


@pytest.fixture
def catalog(db):
    call_command("loaddata", "catalog", verbosity=0)


@pytest.fixture
def make_client(db):
    """make_client("alice", staff=False) -> an APIClient authenticated by token."""

    def make(username: str, *, staff: bool = False) -> APIClient:
        user, _ = User.objects.get_or_create(
            username=username, defaults={"is_staff": staff}
        )
        token, _ = Token.objects.get_or_create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        client.user = user
        client.token = token.key
        return client

    return make


@pytest.fixture
def alice(make_client, catalog) -> APIClient:
    return make_client("alice")


@pytest.fixture
def staff(make_client, catalog) -> APIClient:
    return make_client("frontend", staff=True)


def cart_lines(username: str) -> list[tuple[str, int]]:
    """The stored lines of a cart, read straight from the database."""
    return list(
        CartItem.objects.filter(user__username=username)
        .order_by("created_at", "id")
        .values_list("product_id", "quantity")
    )


def add(client, username: str, product_id: str, quantity: int = 1):
    """POST an add that must succeed; the response."""
    response = client.post(
        f"/cart/{username}",
        {"product_id": product_id, "quantity": quantity},
        format="json",
    )
    assert response.status_code in (200, 201), response.content
    return response


def error_codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def database_url_for_tests() -> str:
    """The URL of the database the tests run on (pytest-django's test_ copy)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def live_service(transactional_db, tmp_path):
    """The real service (gunicorn, 2 workers) on the test database."""
    with Gunicorn(database_url_for_tests(), tmp_path) as server:
        yield server
