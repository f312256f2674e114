"""tests/stack: the compose stack's behaviour under faults, from outside.

Collected only when scripts/container-check has started the stack and says
so (CART_STACK=1; tests/conftest.py ignores this directory otherwise). No
Django here: everything goes through the stack's ports and compose."""

import uuid

import pytest

from .stack import compose


@pytest.fixture(scope="session", autouse=True)
def _require_postgresql():
    """The host suite's database set-up has no place here."""


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    """The stack's counters live in its Redis (tests flush it themselves)."""


def create_accounts(count: int, *, staff: bool) -> list[tuple[str, str]]:
    """New users with a token each, made inside web1: [(username, token)]."""
    usernames = [f"stack-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    code = (
        "from carts.models import User;"
        "from rest_framework.authtoken.models import Token;"
        "from carts.auth.powers import manage_any_cart_permission;"
        f"users = [User.objects.create(username=u, is_staff={staff}) "
        f"for u in {usernames!r}];"
        f"[user.user_permissions.add(manage_any_cart_permission()) "
        f"for user in users if {staff}];"
        "print(*(Token.objects.create(user=user).key for user in users))"
    )
    out = compose("exec", "-T", "web1", "python", "manage.py", "shell", "-c", code)
    return list(zip(usernames, out.split()[-count:], strict=True))


@pytest.fixture(scope="session")
def staff_token() -> str:
    return create_accounts(1, staff=True)[0][1]


@pytest.fixture(scope="session")
def shoppers() -> list[str]:
    """Usernames of shoppers whose carts the staff token may use."""
    return [username for username, _ in create_accounts(8, staff=False)]
