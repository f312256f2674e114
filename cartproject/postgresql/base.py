"""PostgreSQL with bounded waits and a bulkhead (carts.db_guard), server-side
timeouts, a health check that costs no round trip, and the token cache that
the database empties on every change (carts.auth.token_cache).

Health check: Django's (CONN_HEALTH_CHECKS) sends `SELECT 1` before the first
query of every request on a persistent connection: a whole round trip to the
server, per request, on the hot path. Here the check first asks the kernel
whether the idle connection's socket has anything to read. A healthy idle
connection has nothing to read, or only notifications, which are consumed;
when the server restarts or ends the backend, it sends a FATAL message or
closes the socket, which leaves it readable, and then Django's own `SELECT 1`
decides. A peer that vanished without closing the socket is found by the next
query's deadline, or before that by TCP keepalives, which leave the socket
readable too.
"""

from django.conf import settings
from django.db.backends.postgresql import base

from carts import db_guard
from carts.auth.token_cache import TokenCacheConnection

db_guard.install()


class DatabaseWrapper(TokenCacheConnection, base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        timeout = conn_params.get("connect_timeout")
        with db_guard.connecting(None if timeout is None else float(timeout)):
            return super().get_new_connection(conn_params)

    def init_connection_state(self) -> None:
        # SET, not libpq's startup `options`, which PgBouncer refuses
        # (docs/reliability.md); one round trip for the three.
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SET statement_timeout = %s; SET lock_timeout = %s;"
                " SET idle_in_transaction_session_timeout = %s",
                [
                    round(settings.DATABASE_STATEMENT_TIMEOUT * 1000),
                    round(settings.DATABASE_LOCK_TIMEOUT * 1000),
                    round(settings.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT * 1000),
                ],
            )
        super().init_connection_state()

    def ensure_connection(self) -> None:
        db_guard.admit()
        super().ensure_connection()

    def close_if_health_check_failed(self) -> None:
        db_guard.admit()
        if (
            self.connection is not None
            # Django's own attributes, which django-stubs does not declare.
            and self.health_check_enabled  # type: ignore[attr-defined]
            and not self.health_check_done  # type: ignore[has-type]
            and self.drain()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
