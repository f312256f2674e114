"""tests/citus/stack: the compose stack on a Citus cluster
(docker-compose.citus.yaml), from outside: collected only when
scripts/citus-check has started it (CART_CITUS_STACK=1)."""

import os

import pytest

from ...stack.conftest import create_accounts
from ...stack.stack import REPLICAS, wait_healthy

collect_ignore_glob = [] if os.environ.get("CART_CITUS_STACK") else ["test_*.py"]


@pytest.fixture(scope="session", autouse=True)
def _require_postgresql():
    """The host suite's database set-up has no place here."""


@pytest.fixture(autouse=True)
def _fresh_throttle_cache():
    """The stack's counters live in its Redis; staff accounts are not limited."""


@pytest.fixture(scope="session")
def staff_token() -> str:
    """A staff token, once the stack serves (the catalog: scripts/citus-check)."""
    for service in (*REPLICAS, "grpc", "nginx"):
        wait_healthy(service, timeout=180)
    return create_accounts(1, staff=True)[0][1]
