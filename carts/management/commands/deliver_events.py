import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from prometheus_client import start_http_server

from carts.events.deliverer import deliver


class Command(BaseCommand):
    help = (
        "Deliver cart events to the webhook endpoints of the admin, signed by "
        "the Standard Webhooks convention: at least once, in order per cart "
        "for each endpoint, retried with backoff for CART_WEBHOOK_RETRY_FOR, "
        "then dead-lettered. Runs until SIGTERM or SIGINT (POSTs in flight "
        "finish); several processes may run at once. Metrics on "
        "CART_WEBHOOK_METRICS_PORT."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="deliver what is due now, once each, then exit",
        )

    def handle(self, *args: Any, once: bool, **options: Any) -> None:
        stop = threading.Event()
        previous = {
            signum: signal.signal(signum, lambda *_: stop.set())
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            if settings.CART_WEBHOOK_METRICS_PORT:
                start_http_server(
                    settings.CART_WEBHOOK_METRICS_PORT,
                    addr=settings.CART_WEBHOOK_METRICS_BIND,
                )
            deliver(stop=stop, until_idle=once)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
