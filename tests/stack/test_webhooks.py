"""The stack's webhooks service (docs/events.md): a cart change through
nginx reaches a receiver on the host, signed; the service's metrics count
it."""

import base64
import secrets

from ..webhook_receiver import Receiver
from .stack import call, compose, metric, record


def shell(code: str) -> str:
    return compose("exec", "-T", "web1", "python", "manage.py", "shell", "-c", code)


def test_a_cart_change_reaches_a_webhook_receiver_signed(staff_token, shoppers):
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    shopper = shoppers[0]
    with Receiver(secret) as receiver:
        endpoint = shell(
            "from carts.models import WebhookEndpoint;"
            f"print(WebhookEndpoint.objects.create(url={receiver.url!r}, "
            f"secret={secret!r}).pk)"
        ).split()[-1]
        try:
            added = call(
                "web",
                "POST",
                f"/cart/{shopper}",
                token=staff_token,
                body={"product_id": "OLJCESPC7Z", "quantity": 2},
            )
            assert added.status in (200, 201), added.body
            seconds = receiver.wait_for(lambda r: len(r.received) >= 1, timeout=30)
        finally:
            shell(
                "from carts.models import WebhookEndpoint;"
                f"WebhookEndpoint.objects.filter(pk={endpoint}).delete()"
            )

    record(f"webhooks: a cart change reached the receiver in {seconds:.2f} s")
    assert receiver.refused_signatures == []
    (received,) = receiver.received
    assert received.event["user_id"] == shopper
    assert received.event["type"] == "cart.item_added"
    assert received.event["data"]["product_id"] == "OLJCESPC7Z"
    assert metric("webhooks", "cart_webhook_delivered_total", endpoint=endpoint) == 1
