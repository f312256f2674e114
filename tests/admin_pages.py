"""What the admin's pages show, read from their HTML (no Django import: the
SQLite scenario and the suite both use it)."""

import re

# A list's cell, or a change page's read-only value after its label.
_SUBTOTAL = re.compile(
    r'<td class="field-cart_subtotal">([^<]*)</td>'
    r'|field-cart_subtotal">.*?</label>\s*<div class="readonly">([^<]*)<',
    flags=re.S,
)


def subtotals_shown(html: str) -> list[str]:
    """The cart subtotals a list or change page shows, in page order."""
    return [cell or value for cell, value in _SUBTOTAL.findall(html)]


def all_in_cents(amounts: list[str]) -> bool:
    return all(re.fullmatch(r"\d+\.\d\d", amount) for amount in amounts)
