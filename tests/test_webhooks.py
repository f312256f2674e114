"""Webhooks (API.md, "Webhooks"): cart events POSTed to the endpoints by
`manage.py deliver_events`, a real process, to real receivers on 127.0.0.1
that verify every signature with the Standard Webhooks library: at least
once, in order per cart, across a receiver's outage and a SIGKILL of the
deliverer, once per endpoint with two deliverers, and a dead endpoint delays
no other one."""

import json
import sys
import time
import urllib.request

from django.core.management import call_command
from django.db import connection
from django.db.models import Max

from carts.events.feed import event_json
from carts.models import (
    CartEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    new_webhook_secret,
)
from devtools.liveservice import LiveProcess

from .conftest import add, database_url_for_tests
from .webhook_receiver import Received, Receiver

PRODUCTS = ["OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N"]


class DeliverEvents(LiveProcess):
    """`manage.py deliver_events` in a subprocess; ready when its metrics
    port answers."""

    name = "deliver_events"

    def __init__(self, database_url, directory, *, env=None):
        super().__init__(database_url, directory, env=env)
        self.env["CART_WEBHOOK_METRICS_PORT"] = str(self.port)
        self.log_path = directory / f"{self.name}-{self.port}.log"

    def command(self) -> list[str]:
        return [sys.executable, "manage.py", "deliver_events"]

    def ready(self) -> bool:
        return bool(self.metrics())

    def metrics(self) -> dict[str, float]:
        """The samples of its /metrics: {'name{labels}': value}."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        return {
            name: float(value)
            for name, _, value in (
                line.rpartition(" ") for line in text.splitlines() if line[:1] != "#"
            )
            if name
        }

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        self.started().kill()
        self.started().wait(timeout=10)


def event_body(received: Received) -> str:
    return json.dumps(received.event, sort_keys=True)


# Backoff and timeouts of seconds, not hours, for the tests.
FAST = {
    "CART_WEBHOOK_RETRY_BASE": "1s",
    "CART_WEBHOOK_RETRY_MAX": "2s",
    "CART_WEBHOOK_TIMEOUT": "1s",
    "CART_WEBHOOK_POLL_INTERVAL": "0.2",
}


def write_events(carts: int, per_cart: int, *, first_version: int = 1) -> list[int]:
    """`per_cart` events for each of `carts` carts, versions interleaved
    across the carts as concurrent shoppers write them; their ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO carts_cartevent
              (position, user_pk, username, type, cart_version, occurred_at,
               data)
            SELECT pg_current_xact_id()::text::bigint, cart, 'shopper-' || cart,
              'cart.item_added', version, now(),
              jsonb_build_object('product_id', 'P' || version)
            FROM generate_series(%s, %s) version, generate_series(1, %s) cart
            ORDER BY version, cart
            RETURNING id
            """,
            [first_version, first_version + per_cart - 1, carts],
        )
        return sorted(row[0] for row in cursor.fetchall())


def change_carts(staff, carts: int, per_cart: int) -> list[int]:
    """`per_cart` adds to each of `carts` carts through the API, the carts
    in turn, as concurrent shoppers make them; the ids of their events."""
    after = CartEvent.objects.aggregate(last=Max("id"))["last"] or 0
    for change in range(per_cart):
        for cart in range(1, carts + 1):
            add(staff, f"shopper-{cart}", PRODUCTS[change % len(PRODUCTS)])
    events = CartEvent.objects.filter(id__gt=after).order_by("id")
    return list(events.values_list("id", flat=True))


def deliverer(tmp_path, **env: str) -> DeliverEvents:
    return DeliverEvents(database_url_for_tests(), tmp_path, env={**FAST, **env})


def in_order_per_cart(
    receiver: Receiver, carts: int, per_cart: int, *, repeats: bool = False
) -> None:
    """Each cart's events arrived in the order of its versions, one after
    the other (a version is the cart's generation and its change counter);
    `repeats`: an event may arrive again right after itself (sent again
    after a crash)."""
    by_cart = receiver.versions_by_cart()
    if repeats:
        by_cart = {
            cart: [v for i, v in enumerate(versions) if i == 0 or versions[i - 1] != v]
            for cart, versions in by_cart.items()
        }
    assert len(by_cart) == carts
    assert all(
        versions == list(range(versions[0], versions[0] + per_cart))
        for versions in by_cart.values()
    ), by_cart


def endpoint_for(**receiver_options) -> tuple[WebhookEndpoint, Receiver]:
    """An endpoint with the secret made by default, and its receiver (not
    started yet)."""
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/")
    receiver = Receiver(endpoint.secret, **receiver_options)
    endpoint.url = receiver.url
    endpoint.save()
    return endpoint, receiver


def test_every_event_arrives_once_signed_as_the_feed_shows_it(
    transactional_db, staff, tmp_path
):
    endpoint, receiver = endpoint_for()
    assert endpoint.secret.startswith("whsec_")
    with (
        deliverer(tmp_path) as process,
        receiver,
        Receiver(new_webhook_secret()) as other_secret,
    ):
        wrong = WebhookEndpoint.objects.create(url=other_secret.url)
        ids = change_carts(staff, carts=3, per_cart=4)
        receiver.wait_for(lambda r: len(r.received) == len(ids), timeout=20)
        other_secret.wait_for(lambda r: len(r.refused_signatures) >= 3, timeout=20)
        time.sleep(0.5)  # anything sent twice would have arrived

        assert receiver.refused_signatures == []
        assert sorted(map(int, receiver.ids())) == ids
        for received in receiver.received:
            event = CartEvent.objects.get(pk=received.webhook_id)
            assert received.event == event_json(event)
        in_order_per_cart(receiver, carts=3, per_cart=4)
        # The receiver's 2xx is recorded, with its first bytes.
        delivered = WebhookDelivery.objects.filter(endpoint=endpoint)
        assert {(d.state, d.attempts) for d in delivered} == {("delivered", 1)}
        attempts = WebhookAttempt.objects.filter(delivery__endpoint=endpoint)
        assert {(a.status_code, a.response) for a in attempts} == {(200, "ok")}
        # A receiver with another secret refuses them all: a 400, retried.
        assert other_secret.received == []
        refused = WebhookAttempt.objects.filter(delivery__endpoint=wrong)
        assert {a.status_code for a in refused} == {400}

        metrics = process.metrics()
        label = f'{{endpoint="{endpoint.pk}"}}'
        assert metrics[f"cart_webhook_delivered_total{label}"] == len(ids)
        assert f"cart_webhook_failed_attempts_total{label}" not in metrics
        assert (
            metrics[f'cart_webhook_failed_attempts_total{{endpoint="{wrong.pk}"}}'] >= 3
        )
        process.wait_until(
            lambda: (
                process.metrics()[f"cart_webhook_oldest_undelivered_seconds{label}"]
                == 0
            )
        )
        assert (
            process.metrics()[
                f'cart_webhook_oldest_undelivered_seconds{{endpoint="{wrong.pk}"}}'
            ]
            > 0
        )


def test_a_receiver_down_for_30_s_gets_everything_after_in_order(
    transactional_db, staff, tmp_path
):
    _, receiver = endpoint_for()
    with deliverer(tmp_path), receiver:
        before = change_carts(staff, carts=4, per_cart=2)
        receiver.wait_for(lambda r: len(r.received) == len(before), timeout=20)

        receiver.stop()
        during = change_carts(staff, carts=4, per_cart=5)
        time.sleep(30)
        refused = WebhookAttempt.objects.filter(error__contains="Refused")
        # Each cart's next event waited for its first: only 4 were tried.
        assert {a.delivery.event_id for a in refused} == set(during[:4])
        receiver.start()

        receiver.wait_for(
            lambda r: len(r.received) == len(before) + len(during), timeout=20
        )
        in_order_per_cart(receiver, carts=4, per_cart=7)
        assert receiver.refused_signatures == []


def test_a_deliverer_killed_mid_batch_loses_nothing(transactional_db, staff, tmp_path):
    _, receiver = endpoint_for()
    with receiver:
        ids = change_carts(staff, carts=8, per_cart=5)
        receiver.hold()  # the first batch stays in flight
        with deliverer(tmp_path, CART_WEBHOOK_CONCURRENCY="4") as process:
            receiver.wait_for(lambda r: len(r.received) == 4, timeout=20)
            process.kill()
        in_flight = set(receiver.ids())
        receiver.release()
        with deliverer(tmp_path):
            receiver.wait_for(lambda r: set(r.ids()) == {str(i) for i in ids}, 30)
            time.sleep(0.5)

        counts = receiver.counts()
        # Sent again after their claim lapsed, with the same webhook-id and body.
        assert {webhook_id for webhook_id, n in counts.items() if n > 1} == in_flight
        assert all(n <= 2 for n in counts.values())
        bodies = {}
        for received in receiver.received:
            body = bodies.setdefault(received.webhook_id, event_body(received))
            assert event_body(received) == body
        in_order_per_cart(receiver, carts=8, per_cart=5, repeats=True)


def test_two_deliverers_send_each_of_1000_events_once_to_each_endpoint(
    transactional_db, tmp_path
):
    secrets = [new_webhook_secret(), new_webhook_secret()]
    with Receiver(secrets[0]) as first, Receiver(secrets[1]) as second:
        for secret, receiver in zip(secrets, (first, second), strict=True):
            WebhookEndpoint.objects.create(url=receiver.url, secret=secret)
        ids = write_events(carts=50, per_cart=20)
        # Answers slower than CART_WEBHOOK_TIMEOUT are sent again (at least
        # once): a timeout for a loaded test machine, not for the receiver.
        slow_ok = {"CART_WEBHOOK_TIMEOUT": "10s"}
        with (
            deliverer(tmp_path, **slow_ok) as one,
            deliverer(tmp_path, **slow_ok) as other,
        ):
            for receiver in (first, second):
                receiver.wait_for(lambda r: len(r.received) >= 1000, timeout=120)
            time.sleep(1)  # anything sent twice would have arrived
            sent = [p.metrics() for p in (one, other)]

        for receiver in (first, second):
            assert receiver.refused_signatures == []
            assert len(receiver.received) == 1000
            assert set(receiver.counts()) == {str(pk) for pk in ids}
            in_order_per_cart(receiver, carts=50, per_cart=20)
        assert not WebhookAttempt.objects.exclude(status_code=200).exists()
        # Both processes did part of the work.
        for metrics in sent:
            assert (
                sum(
                    value
                    for name, value in metrics.items()
                    if name.startswith("cart_webhook_delivered_total")
                )
                > 0
            )


def test_a_dead_endpoint_delays_no_other_endpoint(transactional_db, staff, tmp_path):
    secret = new_webhook_secret()
    with (
        # Outermost: its stop waits for nothing once the receivers are gone.
        deliverer(tmp_path, CART_WEBHOOK_TIMEOUT="30s") as process,
        Receiver(secret, answer=None) as silent,
        Receiver(secret, answer=500) as failing,
        Receiver(secret) as healthy,
    ):
        endpoints = {
            receiver: WebhookEndpoint.objects.create(url=receiver.url, secret=secret)
            for receiver in (silent, failing, healthy)
        }
        ids = change_carts(staff, carts=20, per_cart=5)

        healthy.wait_for(lambda r: len(r.received) == len(ids), timeout=25)
        # All delivered while the silent endpoint's first POSTs still wait
        # for an answer (30 s) and the failing one's are retried.
        silent.wait_for(lambda r: len(r.received) == 8, timeout=1)  # concurrency
        assert not WebhookAttempt.objects.filter(
            delivery__endpoint=endpoints[silent]
        ).exists()
        assert WebhookAttempt.objects.filter(
            delivery__endpoint=endpoints[failing], status_code=500
        ).exists()
        in_order_per_cart(healthy, carts=20, per_cart=5)
        gauge = 'cart_webhook_oldest_undelivered_seconds{endpoint="%s"}'
        process.wait_until(
            lambda: process.metrics()[gauge % endpoints[silent].pk] > 0, timeout=1
        )


def test_a_post_without_an_answer_holds_its_own_slot_only(
    transactional_db, staff, tmp_path
):
    """The endpoint's first POST is never answered: while it waits for its
    timeout, the endpoint's other slot delivers every other cart's events
    (the hung cart's next ones wait for it: order per cart)."""
    secret = new_webhook_secret()
    with (
        deliverer(tmp_path, CART_WEBHOOK_TIMEOUT="60s", CART_WEBHOOK_CONCURRENCY="2"),
        Receiver(secret, hang_first=1) as receiver,
    ):
        WebhookEndpoint.objects.create(url=receiver.url, secret=secret)
        ids = change_carts(staff, carts=5, per_cart=3)

        receiver.wait_for(lambda r: len(r.received) == len(ids) - 2, timeout=20)
        hung = receiver.received[0].event["user_id"]
        assert {received.event["user_id"] for received in receiver.received[1:]} == {
            f"shopper-{cart}" for cart in range(1, 6)
        } - {hung}


def test_once_delivers_what_is_due_and_exits(transactional_db, staff):
    _, receiver = endpoint_for()
    with receiver:
        ids = change_carts(staff, carts=2, per_cart=3)
        call_command("deliver_events", "--once")

    assert sorted(map(int, receiver.ids())) == ids
    in_order_per_cart(receiver, carts=2, per_cart=3)
