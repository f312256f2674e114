"""The database connection's behaviour, in one home: bounded waits and the
bulkhead (`guard`), what the server sends on an idle connection and the
health check that reads it (`notifications`), readiness (`readiness`), and
the PostgreSQL backend that wires them into Django (`postgresql`, the ENGINE),
and `thread_connection()` for the request path.

Dependencies point one way: the backend uses guard and notifications;
features that want notifications (the token cache, carts.auth) register a
listener with `notifications` when the app is ready; nothing here imports
them."""

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper


def thread_connection() -> BaseDatabaseWrapper:
    """This thread's connection to the default database: what
    `django.db.connection` stands for. Every attribute of that proxy looks the
    connection up again in a thread-local, about 2 µs each; the request path's
    functions that use several (the token check, a write) take it once."""
    return connections[DEFAULT_DB_ALIAS]
