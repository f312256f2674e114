"""Cart round trip through a running service's published port.

    python3 scripts/cart_round_trip.py BASE_URL TOKEN USERNAME

Checks /readyz, adds one demo product twice (201, then 200 with the quantities
merged), reads the cart, empties it (204) and reads it empty. Stops with a
non-zero exit at the first answer that differs from docs/API.md.
Standard library only (and carts/demo.py, plain constants): scripts/container-check
runs it with the host's python3.
"""

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

# Run as a file, not a module: the project's root is not on the path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from carts.demo import LOAFERS as PRODUCT


def call(method: str, url: str, token: str, body: dict | None = None):
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            status, raw = reply.status, reply.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, json.loads(raw) if raw else None


def expect(what: str, got, wanted) -> None:
    if got != wanted:
        sys.exit(f"round trip: {what}: expected {wanted!r}, got {got!r}")
    print(f"round trip: {what}: {got!r}")


def main(base_url: str, token: str, username: str) -> None:
    cart = f"{base_url}/cart/{username}"

    status, _ = call("GET", f"{base_url}/readyz", token)
    expect("GET /readyz", status, 200)

    status, line = call("POST", cart, token, {"product_id": PRODUCT, "quantity": 2})
    expect("first add", (status, line["quantity"]), (201, 2))

    status, line = call("POST", cart, token, {"product_id": PRODUCT, "quantity": 3})
    expect("second add merges", (status, line["quantity"]), (200, 5))

    status, body = call("GET", cart, token)
    expect(
        "get",
        (status, [(i["product_id"], i["quantity"]) for i in body["items"]]),
        (200, [(PRODUCT, 5)]),
    )
    expect("subtotal", body["subtotal"], "449.95")

    status, _ = call("DELETE", cart, token)
    expect("delete", status, 204)

    status, body = call("GET", cart, token)
    expect(
        "get after delete", (status, body["items"], body["subtotal"]), (200, [], "0.00")
    )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
