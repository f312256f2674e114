"""PostgreSQL with a health check that costs no round trip, and the token
cache that the database empties on every change (carts.auth.token_cache).

Health check: Django's (CONN_HEALTH_CHECKS) sends `SELECT 1` before the first
query of every request on a persistent connection: a whole round trip to the
server, per request, on the hot path. Here the check first asks the kernel
whether the idle connection's socket has anything to read. A healthy idle
connection has nothing to read, or only notifications, which are consumed;
when the server restarts or ends the backend, it sends a FATAL message or
closes the socket, which leaves it readable, and then Django's own `SELECT 1`
decides. A peer that vanished without closing the socket would block
`SELECT 1` too, so nothing is detected later than before.
"""

from django.db.backends.postgresql import base

from carts.auth.token_cache import TokenCacheConnection


class DatabaseWrapper(TokenCacheConnection, base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and self.drain()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
