"""The stack's webhooks service (docs/events.md): an event of the outbox
reaches a receiver on the host, signed; the service's metrics count it."""

import base64
import secrets

from ..webhook_receiver import Receiver
from .stack import compose, metric, record


def shell(code: str) -> str:
    return compose("exec", "-T", "web1", "python", "manage.py", "shell", "-c", code)


def test_an_event_reaches_a_webhook_receiver_signed(shoppers):
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    shopper = shoppers[0]
    with Receiver(secret) as receiver:
        endpoint = shell(
            "from carts.models import WebhookEndpoint;"
            f"print(WebhookEndpoint.objects.create(url={receiver.url!r}, "
            f"secret={secret!r}).pk)"
        ).split()[-1]
        try:
            # The row a cart change writes in its transaction (carts.cart.sql).
            shell(
                "from django.utils import timezone;"
                "from carts.models import CartEvent, User;"
                f"user = User.objects.get(username={shopper!r});"
                "CartEvent.objects.create(transaction_id=0, user_pk=user.pk, "
                "username=user.username, type='cart.item_added', cart_version=1, "
                "occurred_at=timezone.now(), data={'product_id': 'OLJCESPC7Z'})"
            )
            seconds = receiver.wait_for(lambda r: len(r.received) >= 1, timeout=30)
        finally:
            shell(
                "from carts.models import WebhookEndpoint;"
                f"WebhookEndpoint.objects.filter(pk={endpoint}).delete()"
            )

    record(f"webhooks: an event reached the receiver in {seconds:.2f} s")
    assert receiver.refused_signatures == []
    (received,) = receiver.received
    assert received.event["user_id"] == shopper
    assert received.event["type"] == "cart.item_added"
    assert received.event["data"]["product_id"] == "OLJCESPC7Z"
    assert metric("webhooks", "cart_webhook_delivered_total", endpoint=endpoint) == 1
