"""The delivery process (manage.py deliver_events): a thread per active
endpoint, so that a slow or dead endpoint delays no other one; each fans
out its endpoint's new events, claims the due deliveries (at most
CART_WEBHOOK_CONCURRENCY, each the first pending one of its cart), POSTs
them at once and records every attempt (carts.events.delivery). The main
thread starts and ends the endpoints' threads and sets the gauge.

Any number of these processes may run at once: the fan-out and the claims
take row locks with SKIP LOCKED."""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from ..models import WebhookDelivery, WebhookEndpoint
from . import metrics
from .delivery import (
    Claimed,
    active_endpoint_ids,
    deliveries_claim,
    deliveries_fan_out,
    deliveries_record,
    oldest_undelivered,
)
from .feed import event_json
from .sending import Outcome, webhook_post

logger = logging.getLogger(__name__)


class EndpointWorker(threading.Thread):
    """Delivers one endpoint's events until `stop` is set, the endpoint is
    gone or inactive, or (until_idle) nothing is due."""

    def __init__(
        self, endpoint_id: int, *, stop: threading.Event, until_idle: bool
    ) -> None:
        super().__init__(name=f"webhook-endpoint-{endpoint_id}", daemon=True)
        self.endpoint_id = endpoint_id
        self.label = str(endpoint_id)
        self.stop = stop
        self.until_idle = until_idle

    def run(self) -> None:
        concurrency = settings.CART_WEBHOOK_CONCURRENCY
        poll = settings.CART_WEBHOOK_POLL_INTERVAL
        endpoint: WebhookEndpoint | None = None
        looked_at = -poll
        with ThreadPoolExecutor(concurrency, thread_name_prefix=self.name) as posts:
            try:
                while not self.stop.is_set():
                    try:
                        # The endpoint's settings and new events, once per
                        # poll interval: a busy round costs a claim and a
                        # record.
                        if endpoint is None or time.monotonic() - looked_at >= poll:
                            endpoint = WebhookEndpoint.objects.filter(
                                pk=self.endpoint_id, active=True
                            ).first()
                            if endpoint is None:
                                return
                            deliveries_fan_out(endpoint_id=self.endpoint_id)
                            looked_at = time.monotonic()
                        if not self.attempt(endpoint, posts, concurrency):
                            if self.until_idle:
                                return
                            self.stop.wait(poll)
                    except DatabaseError:
                        logger.exception("endpoint %s: database error", self.label)
                        connection.close()
                        if self.until_idle:
                            raise
                        self.stop.wait(poll)
            finally:
                connection.close()

    def attempt(
        self, endpoint: WebhookEndpoint, posts: ThreadPoolExecutor, concurrency: int
    ) -> bool:
        """One batch of attempts; whether there was one."""
        claimed = deliveries_claim(endpoint_id=self.endpoint_id, limit=concurrency)

        def post(item: Claimed) -> Outcome:
            return webhook_post(
                url=endpoint.url,
                secret=endpoint.secret,
                message_id=str(item.event.id),
                payload=event_json(item.event),
                timeout=settings.CART_WEBHOOK_TIMEOUT,
            )

        outcomes = dict(
            zip(
                (item.delivery_id for item in claimed),
                posts.map(post, claimed),
                strict=True,
            )
        )
        states = deliveries_record(outcomes=outcomes)
        for item in claimed:
            if outcomes[item.delivery_id].delivered:
                metrics.DELIVERED.labels(self.label).inc()
            else:
                metrics.FAILED_ATTEMPTS.labels(self.label).inc()
            if states.get(item.delivery_id) == WebhookDelivery.State.DEAD:
                metrics.DEAD_LETTERED.labels(self.label).inc()
                logger.warning(
                    "endpoint %s: event %s dead-lettered", self.label, item.event.id
                )
        return bool(claimed)


def deliver(*, stop: threading.Event, until_idle: bool = False) -> None:
    """Deliver until `stop` is set or (until_idle) nothing is due."""
    workers: dict[int, EndpointWorker] = {}
    try:
        while not stop.is_set():
            try:
                for endpoint_id in active_endpoint_ids():
                    worker = workers.get(endpoint_id)
                    if worker is None or not worker.is_alive():
                        worker = EndpointWorker(
                            endpoint_id, stop=threading.Event(), until_idle=until_idle
                        )
                        workers[endpoint_id] = worker
                        worker.start()
                update_gauge()
            except DatabaseError:
                logger.exception("deliverer: database error")
                connection.close()
            if until_idle:
                for worker in workers.values():
                    worker.join()
                return
            stop.wait(settings.CART_WEBHOOK_POLL_INTERVAL)
    finally:
        for worker in workers.values():
            worker.stop.set()
        for worker in workers.values():
            worker.join()
        connection.close()


_gauge_labels: set[str] = set()


def update_gauge() -> None:
    """The oldest undelivered event's age per active endpoint; the series of
    endpoints removed or deactivated go."""
    ages = {str(pk): age for pk, age in oldest_undelivered(now=timezone.now()).items()}
    for label, age in ages.items():
        metrics.OLDEST_UNDELIVERED.labels(label).set(age)
    for label in _gauge_labels - ages.keys():
        metrics.OLDEST_UNDELIVERED.remove(label)
    _gauge_labels.clear()
    _gauge_labels.update(ages)
