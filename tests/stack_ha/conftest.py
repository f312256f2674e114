"""tests/stack_ha: the high-availability stack (docker-compose.ha.yaml) losing
its primary under load, from outside.

Collected only when scripts/failover-check has started the stack and says so
(CART_STACK_HA=1; tests/conftest.py ignores this directory otherwise). No
Django here: everything goes through the stack's ports, Patroni's REST API and
compose."""

import pytest

from ..stack.conftest import create_accounts
from ..stack.stack import REPLICAS, compose, wait_healthy


@pytest.fixture(scope="session", autouse=True)
def _require_postgresql():
    """The host suite's database set-up has no place here."""


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    """The stack's counters live in its Redis; staff accounts are not limited."""


@pytest.fixture(scope="session")
def staff_token() -> str:
    """A staff token, once the stack serves and has the demo catalog."""
    for service in (*REPLICAS, "grpc", "nginx"):
        wait_healthy(service, timeout=180)
    compose("exec", "-T", "web1", "python", "manage.py", "loaddata", "catalog")
    return create_accounts(1, staff=True)[0][1]
