"""Django's PostgreSQL backend with the service's behaviour (carts.database):
bounded waits and a bulkhead (`guard`), server-side timeouts, the listeners'
LISTEN on every new connection and a health check that costs no round trip
(`notifications`)."""

from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base

from .. import guard, notifications

guard.install()


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        timeout = conn_params.get("connect_timeout")
        with guard.connecting(None if timeout is None else float(timeout)):
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
        notifications.listen(self)

    def ensure_connection(self) -> None:
        guard.admit()
        super().ensure_connection()

    def close_if_health_check_failed(self) -> None:
        guard.admit()
        if (
            self.connection is not None
            # Django's own attributes, which django-stubs does not declare.
            and self.health_check_enabled  # type: ignore[attr-defined]
            and not self.health_check_done  # type: ignore[has-type]
            and notifications.drain(self)
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
