"""The deliverer's Prometheus metrics (manage.py deliver_events serves them
on CART_WEBHOOK_METRICS_PORT), labelled by the endpoint's id: never its URL,
which may carry a token.

The counters are each process's own (a scrape of every deliverer, added up
with sum by (endpoint)). The gauge is the database's: every process sets it
from the same query each round, so every deliverer reports the same value
and max by (endpoint) over them is the figure to alert on; with no
deliverer running the series are absent (alert on absent() too)."""

from prometheus_client import Counter, Gauge

DELIVERED = Counter(
    "cart_webhook_delivered",
    "Events delivered (answered 2xx), by endpoint.",
    ["endpoint"],
)
FAILED_ATTEMPTS = Counter(
    "cart_webhook_failed_attempts",
    "Attempts that got no 2xx answer (status, timeout, refused), by endpoint.",
    ["endpoint"],
)
DEAD_LETTERED = Counter(
    "cart_webhook_dead_lettered",
    "Deliveries given up after CART_WEBHOOK_RETRY_FOR, by endpoint.",
    ["endpoint"],
)
OLDEST_UNDELIVERED = Gauge(
    "cart_webhook_oldest_undelivered_seconds",
    "Age of the oldest event queued for the endpoint and not delivered yet "
    "(0: none), from the database.",
    ["endpoint"],
)
