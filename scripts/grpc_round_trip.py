"""gRPC round trip through a running gRPC server's published port.

    python scripts/grpc_round_trip.py HOST:PORT [BASE_URL STAFF_TOKEN]

Checks health (SERVING) and reflection (the cart service listed), reads an
unknown cart (Cart{}), adds one demo product twice (quantities merged), reads
the cart, and, given the REST service's base URL and a staff token, reads the
same cart over REST; then empties it and reads it empty. Stops with a non-zero
exit at the first answer that differs from docs/API.md. Needs grpcio
(requirements.txt): scripts/container-check runs it with the project's
virtualenv.
"""

import json
import sys
import urllib.request
import uuid
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from carts.grpc import cart_pb2, cart_pb2_grpc

PRODUCT = "L9ECAV7KIM"  # Loafers in the demo catalog


def expect(what: str, got, wanted) -> None:
    if got != wanted:
        sys.exit(f"grpc round trip: {what}: expected {wanted!r}, got {got!r}")
    print(f"grpc round trip: {what}: {got!r}")


def lines(cart) -> list[tuple[str, int]]:
    return [(item.product_id, item.quantity) for item in cart.items]


def rest_lines(base_url: str, token: str, user_id: str) -> list[tuple[str, int]]:
    request = urllib.request.Request(
        f"{base_url}/cart/{user_id}", headers={"Authorization": f"Token {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        body = json.load(reply)
    return [(item["product_id"], item["quantity"]) for item in body["items"]]


def main(address: str, base_url: str | None, token: str | None) -> None:
    user_id = str(uuid.uuid4())  # as Online Boutique's session ids
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answer = health.Check(
            health_pb2.HealthCheckRequest(service="hipstershop.CartService"),
            timeout=10,
        )
        expect(
            "health",
            health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status),
            "SERVING",
        )
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        expect("reflection", "hipstershop.CartService" in services, True)

        cart = cart_pb2_grpc.CartServiceStub(channel)
        get = cart_pb2.GetCartRequest(user_id=user_id)
        expect("unknown cart", cart.GetCart(get, timeout=10), cart_pb2.Cart())
        for quantity in (2, 3):
            item = cart_pb2.CartItem(product_id=PRODUCT, quantity=quantity)
            cart.AddItem(
                cart_pb2.AddItemRequest(user_id=user_id, item=item), timeout=10
            )
        answer = cart.GetCart(get, timeout=10)
        expect("adds merge", (answer.user_id, lines(answer)), (user_id, [(PRODUCT, 5)]))
        if base_url and token:
            expect(
                "same cart over REST",
                rest_lines(base_url, token, user_id),
                [(PRODUCT, 5)],
            )
        cart.EmptyCart(cart_pb2.EmptyCartRequest(user_id=user_id), timeout=10)
        expect("emptied", cart.GetCart(get, timeout=10), cart_pb2.Cart())


if __name__ == "__main__":
    if len(sys.argv) not in (2, 4):
        sys.exit(__doc__)
    main(sys.argv[1], *(sys.argv[2:4] if len(sys.argv) == 4 else (None, None)))
