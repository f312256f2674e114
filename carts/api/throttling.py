"""Rate limits: DRF throttling with its counters in the shared "throttle" cache.

One scope per kind of caller: anonymous requests by client IP address,
shoppers and staff accounts by account. A request is counted once it has
passed authentication and permissions (DRF's order).
"""

import logging

from django.conf import settings
from django.core.cache import caches
from django.utils.connection import ConnectionProxy
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class _CartThrottle(SimpleRateThrottle):
    # Not the per-process default cache: the limit must hold across workers.
    cache = ConnectionProxy(caches, "throttle")

    def get_rate(self) -> str | None:
        # Read when called (DRF reads its rates once, at import).
        return settings.CART_THROTTLE_RATES[self.scope]

    def ident(self, request) -> object | None:
        """Whom this scope counts the request against; None if it does not apply."""
        raise NotImplementedError

    def get_cache_key(self, request, view) -> str | None:
        ident = self.ident(request)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        # The limiter must never take the service down with it: if its cache
        # fails (Redis unreachable, a full disk), let the request through.
        try:
            return super().allow_request(request, view)
        except Exception:
            logger.warning("throttle cache failed; request not limited", exc_info=True)
            return True


class AnonThrottle(_CartThrottle):
    scope = "anon"

    def ident(self, request) -> str | None:
        return self.get_ident(request) if request.user is None else None


class UserThrottle(_CartThrottle):
    scope = "user"

    def ident(self, request) -> int | None:
        user = request.user
        return user.pk if user is not None and not user.is_staff else None


class StaffThrottle(_CartThrottle):
    scope = "staff"

    def ident(self, request) -> int | None:
        user = request.user
        return user.pk if user is not None and user.is_staff else None
