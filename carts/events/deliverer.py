"""The delivery process (manage.py deliver_events): a thread per active
endpoint, so that a slow or dead endpoint delays no other one; each fans
out its endpoint's new events, keeps up to CART_WEBHOOK_CONCURRENCY POSTs
under way (each delivery claimed the first pending one of its cart, another
claimed as soon as one ends) and records every attempt
(carts.events.delivery). The main
thread starts and ends the endpoints' threads and sets the gauge.

Any number of these processes may run at once: the fan-out and the claims
take row locks with SKIP LOCKED."""

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

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
        # POSTs under way, with what each delivers: a window of at most
        # `concurrency`, filled again as each ends, so that a slow POST holds
        # its own slot only.
        in_flight: dict[Future[Outcome], Claimed] = {}
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
                                break
                            deliveries_fan_out(endpoint_id=self.endpoint_id)
                            looked_at = time.monotonic()
                        self.send(
                            endpoint, posts, in_flight, concurrency - len(in_flight)
                        )
                        if not in_flight:
                            if self.until_idle:
                                break
                            self.stop.wait(poll)
                            continue
                        ended, _ = wait(in_flight, poll, FIRST_COMPLETED)
                        self.record({future: in_flight.pop(future) for future in ended})
                    except DatabaseError:
                        logger.exception("endpoint %s: database error", self.label)
                        connection.close()
                        if self.until_idle:
                            raise
                        self.stop.wait(poll)
                # Stopping, or the endpoint gone: the POSTs under way end,
                # and are recorded.
                self.record(in_flight)
            finally:
                connection.close()

    def send(
        self,
        endpoint: WebhookEndpoint,
        posts: ThreadPoolExecutor,
        in_flight: dict[Future[Outcome], Claimed],
        free: int,
    ) -> None:
        """Claim up to `free` due deliveries and start their POSTs."""
        if free <= 0:
            return
        for item in deliveries_claim(endpoint_id=self.endpoint_id, limit=free):
            future = posts.submit(
                webhook_post,
                url=endpoint.url,
                secret=endpoint.secret,
                message_id=str(item.event.id),
                payload=event_json(item.event),
                timeout=settings.CART_WEBHOOK_TIMEOUT,
            )
            in_flight[future] = item

    def record(self, ended: dict[Future[Outcome], Claimed]) -> None:
        """Record the attempts of these POSTs, waiting for any still under way."""
        if not ended:
            return
        outcomes = {item.delivery_id: future.result() for future, item in ended.items()}
        states = deliveries_record(outcomes=outcomes)
        for item in ended.values():
            if outcomes[item.delivery_id].delivered:
                metrics.DELIVERED.labels(self.label).inc()
            else:
                metrics.FAILED_ATTEMPTS.labels(self.label).inc()
            if states.get(item.delivery_id) == WebhookDelivery.State.DEAD:
                metrics.DEAD_LETTERED.labels(self.label).inc()
                logger.warning(
                    "endpoint %s: event %s dead-lettered", self.label, item.event.id
                )


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
