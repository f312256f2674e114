"""The house's walls (docs/development.md, "Layout"): only the cart core
writes the cart tables, and every error kind has an answer on every interface."""

import re
from pathlib import Path

import pytest

from carts.api.errors import HTTP_STATUS
from carts.domain.errors import ErrorKind
from carts.grpc.status import GRPC_STATUS

CARTS = Path(__file__).resolve().parent.parent / "carts"
CORE = CARTS / "cart"

# SQL that names a cart table.
CART_TABLE_SQL = re.compile(r"\bcarts_cart(item)?\b")
# An ORM write (or write lock) of a cart model.
CART_MODEL_WRITE = re.compile(
    r"\b(Cart|CartItem)\.objects\b[^\n]*?\."
    r"(create|bulk_create|get_or_create|update_or_create|update|delete"
    r"|select_for_update)\("
)


def modules_outside_the_core() -> list[Path]:
    return [
        path
        for path in CARTS.rglob("*.py")
        if CORE not in path.parents and "migrations" not in path.parts
    ]


@pytest.mark.repository
@pytest.mark.parametrize(
    "pattern", [CART_TABLE_SQL, CART_MODEL_WRITE], ids=["sql", "orm"]
)
def test_only_the_cart_core_writes_the_cart_tables(pattern):
    modules = modules_outside_the_core()
    assert len(modules) > 20  # the walk found the app

    offenders = [
        f"{path.relative_to(CARTS.parent)}:{number}: {line.strip()}"
        for path in modules
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]

    assert offenders == []


@pytest.mark.repository
def test_the_rules_catch_a_write_outside_the_core():
    assert CART_TABLE_SQL.search("UPDATE carts_cart SET version = 0")
    assert CART_TABLE_SQL.search("DELETE FROM carts_cartitem")
    assert not CART_TABLE_SQL.search("SELECT 1 FROM carts_cartless")
    assert CART_MODEL_WRITE.search("CartItem.objects.filter(pk=1).delete()")
    assert CART_MODEL_WRITE.search("Cart.objects.select_for_update().filter(x=1)")
    assert not CART_MODEL_WRITE.search("CartItem.objects.filter(user=u).count()")


@pytest.mark.parametrize("kind", list(ErrorKind), ids=lambda kind: kind.value)
def test_every_error_kind_has_an_http_and_a_grpc_answer(kind):
    assert HTTP_STATUS[kind] >= 400
    assert GRPC_STATUS[kind].value[0] > 0  # not OK
