import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from .conftest import cart_lines, error_codes

CART_CALLS = [
    ("post", "/cart/alice", {"product_id": "L9ECAV7KIM"}),
    ("get", "/cart/alice", None),
    ("delete", "/cart/alice", None),
    ("put", "/cart/alice/items/L9ECAV7KIM", {"quantity": 2}),
    ("delete", "/cart/alice/items/L9ECAV7KIM", None),
]


def call(client, method, path, body):
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize(("method", "path", "body"), CART_CALLS)
def test_no_credentials_is_401_with_www_authenticate(alice, method, path, body):
    response = call(APIClient(), method, path, body)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert error_codes(response) == ["not_authenticated"]


@pytest.mark.parametrize(("method", "path", "body"), CART_CALLS)
def test_bad_token_is_401(alice, method, path, body):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = call(client, method, path, body)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert error_codes(response) == ["authentication_failed"]


@pytest.mark.parametrize(("method", "path", "body"), CART_CALLS)
def test_another_users_cart_is_403(alice, make_client, method, path, body):
    alice.post(
        "/cart/alice", {"product_id": "L9ECAV7KIM", "quantity": 3}, format="json"
    )
    mallory = make_client("mallory")

    response = call(mallory, method, path, body)

    assert response.status_code == 403
    assert error_codes(response) == ["permission_denied"]
    assert cart_lines("alice") == [("L9ECAV7KIM", 3)]


def test_non_staff_asking_for_unknown_user_gets_403_not_404(alice):
    response = alice.get("/cart/nobody")

    assert response.status_code == 403


def test_inactive_users_token_is_refused(alice):
    alice.user.is_active = False
    alice.user.save()

    assert alice.get("/cart/alice").status_code == 401


def test_staff_may_act_on_any_cart(staff, alice):
    added = staff.post(
        "/cart/alice", {"product_id": "L9ECAV7KIM", "quantity": 2}, format="json"
    )
    read = staff.get("/cart/alice")
    cleared = staff.delete("/cart/alice")

    assert added.status_code == 201
    assert read.json()["total_quantity"] == 2
    assert cleared.status_code == 204
    assert cart_lines("alice") == []


def test_session_authentication_is_accepted(alice):
    alice.user.set_password("s3cret-pass")
    alice.user.save()
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="alice", password="s3cret-pass")

    assert client.get("/cart/alice").status_code == 200
    # Unsafe methods over a session need the CSRF token, as for any Django form.
    assert (
        client.post(
            "/cart/alice", {"product_id": "L9ECAV7KIM"}, format="json"
        ).status_code
        == 403
    )


def test_catalog_and_health_need_no_credentials_even_with_a_bad_token(catalog):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    for path in [
        "/products",
        "/products/L9ECAV7KIM",
        "/healthz",
        "/readyz",
        "/api/schema",
    ]:
        assert client.get(path).status_code == 200, path


def test_a_deleted_token_is_refused_on_the_next_request(alice):
    assert alice.get("/cart/alice").status_code == 200
    Token.objects.filter(user=alice.user).delete()

    assert alice.get("/cart/alice").status_code == 401


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Token", "Invalid token header. No credentials provided."),
        ("Token a b", "Invalid token header. Token string should not contain spaces."),
        ("token  ", "Invalid token header. No credentials provided."),
    ],
)
def test_a_malformed_token_header_is_drfs_401(alice, header, detail):
    # The header is read from META, not request.headers; DRF's checks stand.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/cart/alice")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["errors"][0]["detail"] == detail


def test_another_scheme_is_not_a_token(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer abc")

    response = client.get("/cart/alice")

    assert response.status_code == 401
    assert error_codes(response) == ["not_authenticated"]
