"""Rate limits: DRF throttling with its counters in the shared "throttle" cache.

One scope per kind of caller: anonymous requests by client IP address,
shoppers and staff accounts by account. A request is counted once it has
passed authentication and permissions (DRF's order).

With Redis (all replicas share it) the check is one Lua script, so it is
exact under any concurrency: DRF's own check reads the history, then writes
it back, and requests racing between the two would all pass. The script
keeps DRF's sliding window (a sorted set of the admitted requests' times, on
Redis's clock). Other caches (files, one host) keep DRF's check.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils.connection import ConnectionProxy
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from ..auth.powers import may_act_on_any_cart
from .observability import THROTTLED_REQUESTS

if TYPE_CHECKING:  # DRF's settings import this module: no import cycle at run time
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)

# KEYS[1]: the caller's window. ARGV: duration (s), limit, a unique member.
# Returns {1 admitted | 0 refused, seconds until the oldest entry leaves}.
_SLIDING_WINDOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local duration = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - duration)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(duration))
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tostring(duration - (now - tonumber(oldest[2])))}
"""


class _CartThrottle(SimpleRateThrottle):
    # Not the per-process default cache: the limit must hold across workers.
    cache: BaseCache = ConnectionProxy(caches, "throttle")  # type: ignore[assignment]
    scope: str
    # DRF's, from the rate, when there is one.
    num_requests: int
    duration: int
    # Set by the Redis check for wait(); an instance serves one request.
    _retry_after: float | None = None

    def get_rate(self) -> str | None:
        # Read when called (DRF reads its rates once, at import).
        rate: str | None = settings.CART_THROTTLE_RATES[self.scope]
        return rate

    def ident(self, request: Request) -> object | None:
        """Whom this scope counts the request against; None if it does not apply."""
        raise NotImplementedError

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        ident = self.ident(request)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: APIView) -> bool:
        # The limiter must never take the service down with it: if its cache
        # fails (Redis unreachable, a full disk), let the request through.
        try:
            cache = caches["throttle"]
            if isinstance(cache, RedisCache):
                allowed = self._allow_in_redis(cache, request, view)
            else:
                allowed = super().allow_request(request, view)
        except Exception as error:
            logger.warning("throttle cache failed, request not limited: %r", error)
            return True
        if not allowed:
            THROTTLED_REQUESTS.labels(self.scope).inc()
        return allowed

    def _allow_in_redis(
        self, cache: RedisCache, request: Request, view: APIView
    ) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        key = cache.make_and_validate_key(key)
        client = cache._cache.get_client(key, write=True)
        admitted, retry_after = client.register_script(_SLIDING_WINDOW)(
            keys=[key], args=[self.duration, self.num_requests, uuid.uuid4().hex]
        )
        self._retry_after = float(retry_after)
        return bool(admitted)

    def wait(self) -> float | None:
        if self._retry_after is None:
            waited: float | None = super().wait()
            return waited
        return max(self._retry_after, 0.0)


def rated(throttle_classes: Iterable[type[BaseThrottle]]) -> list[BaseThrottle]:
    """The throttles to check: a scope without a rate admits everything
    (DRF's SimpleRateThrottle), so it is not built at all."""
    return [
        throttle()
        for throttle in throttle_classes
        if not issubclass(throttle, _CartThrottle)
        or settings.CART_THROTTLE_RATES[throttle.scope] is not None
    ]


class AnonThrottle(_CartThrottle):
    scope = "anon"

    def ident(self, request: Request) -> str | None:
        return self.get_ident(request) if request.user is None else None


class UserThrottle(_CartThrottle):
    scope = "user"

    def ident(self, request: Request) -> int | None:
        user = request.user
        return user.pk if user is not None and not may_act_on_any_cart(user) else None


class StaffThrottle(_CartThrottle):
    scope = "staff"

    def ident(self, request: Request) -> int | None:
        user = request.user
        return user.pk if may_act_on_any_cart(user) else None


class GuestThrottle(_CartThrottle):
    """POST /guests, by client address: every call creates a user."""

    scope = "guest"

    def ident(self, request: Request) -> str:
        return self.get_ident(request)
