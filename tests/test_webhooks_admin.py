"""Webhooks in the admin (docs/admin.md): endpoints edited with a secret made
for them, deliveries listed with their attempts, the dead-lettered ones
filtered and redelivered; and deliveries going with their events."""

import time
from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.db import connection

from carts.events.delivery import deliveries_fan_out
from carts.models import CartEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint

from .test_webhooks import change_carts, deliverer, endpoint_for, write_events


def wait_for_state(state: str, count: int, timeout: float = 20) -> None:
    started = time.monotonic()
    while WebhookDelivery.objects.filter(state=state).count() < count:
        assert time.monotonic() - started < timeout, WebhookDelivery.objects.all()
        time.sleep(0.1)


def test_a_delivery_is_dead_after_the_retry_window_and_redelivered(
    transactional_db, admin_client, staff, tmp_path
):
    endpoint, receiver = endpoint_for(answer=500)
    with deliverer(tmp_path, CART_WEBHOOK_RETRY_FOR="3s") as process, receiver:
        (event_id,) = change_carts(staff, carts=1, per_cart=1)
        wait_for_state("dead", 1)
        dead = WebhookDelivery.objects.get()
        # Retried with backoff until the window closed, every attempt kept.
        assert dead.attempts >= 2
        assert dead.attempts == WebhookAttempt.objects.count()
        assert {a.status_code for a in WebhookAttempt.objects.all()} == {500}
        label = f'{{endpoint="{endpoint.pk}"}}'
        assert process.metrics()[f"cart_webhook_dead_lettered_total{label}"] == 1

        listed = admin_client.get("/admin/carts/webhookdelivery/", {"state": "dead"})
        assert [d.pk for d in listed.context["cl"].result_list] == [dead.pk]
        page = admin_client.get(f"/admin/carts/webhookdelivery/{dead.pk}/change/")
        assert page.status_code == 200
        shown = page.context["inline_admin_formsets"][0].formset.queryset
        assert [a.status_code for a in shown] == [500] * dead.attempts

        receiver.answer = 200
        answer = admin_client.post(
            "/admin/carts/webhookdelivery/",
            {"action": "redeliver", "_selected_action": [dead.pk]},
        )
        assert answer.status_code == 302
        wait_for_state("delivered", 1)
        assert receiver.ids()[-1] == str(event_id)
        assert WebhookDelivery.objects.get().attempts == dead.attempts + 1


def test_deliveries_and_attempts_go_with_their_event(transactional_db, settings):
    endpoint, _ = endpoint_for()
    write_events(carts=2, per_cart=2)
    deliveries_fan_out(endpoint_id=endpoint.pk)
    for delivery in WebhookDelivery.objects.all():
        WebhookAttempt.objects.create(
            delivery=delivery, started_at=delivery.queued_at, duration=0.1, error="x"
        )
    # One event older than CART_EVENT_TTL: purge_carts removes it.
    # An UPDATE of that column alone: Citus refuses one of the event's
    # distribution column (user_pk), which save() would write too.
    oldest = CartEvent.objects.order_by("id").first()
    CartEvent.objects.filter(pk=oldest.pk).update(
        occurred_at=oldest.occurred_at - timedelta(seconds=settings.CART_EVENT_TTL + 60)
    )
    call_command("purge_carts", stdout=StringIO())

    assert WebhookDelivery.objects.count() == 3
    assert WebhookAttempt.objects.count() == 3
    with connection.cursor() as cursor:  # SQL, as much as Django's delete
        cursor.execute("DELETE FROM carts_webhookendpoint")
    assert not WebhookDelivery.objects.exists()
    assert not WebhookAttempt.objects.exists()


def test_an_endpoint_gets_its_types_of_the_events_after_its_creation(
    transactional_db,
):
    write_events(carts=1, per_cart=1)  # before the new endpoint
    cleared = WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/", event_types=["cart.cleared"]
    )
    later = write_events(carts=2, per_cart=2, first_version=2)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE carts_cartevent SET type = 'cart.cleared' WHERE id = %s",
            [later[0]],
        )

    assert deliveries_fan_out(endpoint_id=cleared.pk) == 1
    assert deliveries_fan_out(endpoint_id=cleared.pk) == 0
    assert WebhookDelivery.objects.get(endpoint=cleared).event_id == later[0]


def test_an_endpoint_is_added_with_a_secret_made_for_it(admin_client):
    page = admin_client.get("/admin/carts/webhookendpoint/add/")
    secret = page.context["adminform"].form["secret"].value()
    assert f'value="{secret}"' in page.content.decode()
    assert secret.startswith("whsec_")

    data = {"url": "https://hooks.example.com/cart", "active": "on"}
    refused = admin_client.post(
        "/admin/carts/webhookendpoint/add/", {**data, "secret": "not-base64!"}
    )
    assert "A Standard Webhooks secret" in refused.content.decode()
    added = admin_client.post(
        "/admin/carts/webhookendpoint/add/",
        {**data, "secret": secret, "event_types": ["cart.merged", "cart.cleared"]},
    )

    assert added.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.event_types) == (
        secret,
        ["cart.merged", "cart.cleared"],
    )
