"""Rate limits shared by the replicas through Redis, and Redis going away.

docker-compose.ci.yaml sets CART_THROTTLE_ANON=30/min; every request here
comes from 127.0.0.1, one anonymous client for the service."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from .stack import REPLICAS, call, compose, logs, metric, port, record, wait_healthy

pytestmark = pytest.mark.stack

LIMIT = 30


def flush_counters() -> None:
    redis.Redis(port=port("redis"), socket_timeout=5).flushall()


def anonymous_burst(count: int) -> list[int]:
    """`count` anonymous requests through nginx, 10 at a time; half of them
    claim another client address in X-Forwarded-For, which must not help."""

    def one(number: int) -> int:
        spoof = {"X-Forwarded-For": f"203.0.113.{number}"} if number % 2 else {}
        return call("web", "GET", "/products", headers=spoof).status

    with ThreadPoolExecutor(10) as pool:
        return list(pool.map(one, range(count)))


def served_per_replica() -> dict[str, float]:
    return {
        replica: metric(replica, "cart_http_requests_total", route="products")
        for replica in REPLICAS
    }


def test_the_anonymous_limit_holds_exactly_across_all_replicas():
    flush_counters()
    before = served_per_replica()
    throttled_before = sum(
        metric(r, "cart_throttled_requests_total", scope="anon") for r in REPLICAS
    )

    statuses = anonymous_burst(2 * LIMIT)

    served = {r: count - before[r] for r, count in served_per_replica().items()}
    throttled = (
        sum(metric(r, "cart_throttled_requests_total", scope="anon") for r in REPLICAS)
        - throttled_before
    )
    record(
        f"rate limit {LIMIT}/min: {statuses.count(200)} of {len(statuses)} passed, "
        f"{statuses.count(429)} refused; per replica {served}"
    )
    assert sorted(set(statuses)) == [200, 429]
    assert statuses.count(200) == LIMIT
    assert all(count > 0 for count in served.values())  # spread over all three
    assert throttled == LIMIT


def test_without_redis_requests_are_served_unlimited_and_limited_again_after():
    flush_counters()
    compose("stop", "redis")
    try:
        down = [call("web", "GET", "/products") for _ in range(LIMIT + 10)]
    finally:
        compose("start", "redis")
        wait_healthy("redis")

    assert [answer.status for answer in down] == [200] * len(down)
    record(
        f"redis down: {len(down)} of {len(down)} anonymous requests served, "
        f"max {max(a.seconds for a in down) * 1000:.0f} ms"
    )
    assert max(answer.seconds for answer in down) < 1.0
    assert any(
        "throttle cache failed, request not limited" in line for line in logs(*REPLICAS)
    )

    # Redis came back empty; the replicas reconnect on their own.
    time.sleep(1)
    flush_counters()
    statuses = anonymous_burst(2 * LIMIT)
    assert statuses.count(200) == LIMIT
