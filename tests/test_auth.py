import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.auth.powers import MANAGE_ANY_CART, manage_any_cart_permission
from carts.demo import LOAFERS
from carts.models import User

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


def test_is_staff_alone_only_opens_the_admin_not_any_cart(make_client, alice):
    operator = make_client("operator")
    operator.user.is_staff = True
    operator.user.save()

    statuses = [
        operator.get("/cart/alice").status_code,
        operator.post(
            "/cart/alice", {"product_id": LOAFERS}, format="json"
        ).status_code,
        operator.post(
            "/cart/newbie", {"product_id": LOAFERS}, format="json"
        ).status_code,
        operator.delete("/cart/alice").status_code,
    ]

    assert statuses == [403] * 4
    assert not User.objects.filter(username="newbie").exists()


def service_account(make_client, name: str, grant) -> APIClient:
    """An account (not staff: no admin login) given the power by `grant`."""
    client = make_client(name)
    grant(client.user, manage_any_cart_permission())
    return client


def grant_through_a_group(user: User, permission: Permission) -> None:
    group = Group.objects.create(name="front ends")
    group.permissions.add(permission)
    user.groups.add(group)


@pytest.mark.parametrize(
    "grant",
    [
        lambda user, permission: user.user_permissions.add(permission),
        grant_through_a_group,
        lambda user, permission: User.objects.filter(pk=user.pk).update(
            is_superuser=True
        ),
    ],
    ids=["permission", "group", "superuser"],
)
def test_the_manage_any_cart_permission_gives_the_staff_powers(
    make_client, alice, grant
):
    front_end = service_account(make_client, "front-end", grant)

    assert front_end.get("/cart/alice").status_code == 200
    assert (
        front_end.post(
            "/cart/newbie", {"product_id": LOAFERS}, format="json"
        ).status_code
        == 201
    )
    assert cart_lines("newbie") == [(LOAFERS, 1)]


def test_a_session_needs_the_permission_too(make_client, alice):
    operator = make_client("operator", staff=True)
    client = APIClient()
    client.force_login(operator.user)

    assert client.get("/cart/alice").status_code == 200
    operator.user.user_permissions.clear()
    client.force_login(User.objects.get(pk=operator.user.pk))
    assert client.get("/cart/alice").status_code == 403


def test_the_admin_offers_the_permission(admin_client):
    response = admin_client.get("/admin/auth/group/add/")

    assert "Can read and change any cart (API)" in response.content.decode()


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


@pytest.mark.django_db(transaction=True)
def test_migration_0008_keeps_existing_staff_accounts_working(catalog):
    executor = MigrationExecutor(connection)
    executor.migrate([("carts", "0007_catalog_changes_lock_carts_in_one_order")])
    old_user = executor.loader.project_state(
        ("carts", "0007_catalog_changes_lock_carts_in_one_order")
    ).apps.get_model("carts", "User")
    old_user.objects.create(username="old-staff", is_staff=True)
    old_user.objects.create(username="old-shopper")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes("carts"))

    staff, shopper = (
        User.objects.get(username=name) for name in ("old-staff", "old-shopper")
    )
    assert staff.has_perm(MANAGE_ANY_CART) and not shopper.has_perm(MANAGE_ANY_CART)
    token = Token.objects.create(user=staff)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/cart/alice").status_code == 200
