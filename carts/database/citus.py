"""Whether the database is a Citus cluster's coordinator (docs/scaling.md):
the citus extension is installed. Migration carts 0016 distributes the tables
only then, and the statements Citus cannot run as PostgreSQL does have their
Citus form (carts.cart.sql, carts.events.feed)."""

from typing import Any

from django.conf import settings

INSTALLED_SQL = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"


def statement_dialect(connection: Any) -> str:
    """Whose form of the statements the connection runs: "citus" on a
    PostgreSQL database with the citus extension, else its vendor's
    ("postgresql", "sqlite"). Asked once per connection (an extension is not
    created under a running service), then one attribute: the writes ask on
    every request."""
    known: str | None = getattr(connection, "_statement_dialect", None)
    if known is None:
        known = connection.vendor
        if known == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(INSTALLED_SQL)
                if cursor.fetchone()[0]:
                    known = "citus"
        connection._statement_dialect = known
    return known


def citus_installed(connection: Any) -> bool:
    """True on a Citus cluster's coordinator; False on plain PostgreSQL and
    SQLite."""
    return statement_dialect(connection) == "citus"


# The connection's lock_timeout is a session SET (carts.database.postgresql),
# which stays on the coordinator; Citus passes a SET LOCAL on to the workers
# that the transaction reaches once citus.propagate_set_commands is 'local'.
BOUND_LOCK_WAITS_SQL = (
    "SET LOCAL citus.propagate_set_commands TO 'local';"
    " SET LOCAL lock_timeout = %(lock_timeout_ms)s"
)


def bound_lock_waits(cursor: Any) -> None:
    """On Citus, in a transaction: its waits for a lock on the workers (a
    cart's row, an idempotency record) end after DATABASE_LOCK_TIMEOUT, as
    its waits on the coordinator do. For the rest of the transaction a SET
    LOCAL must be a statement of its own: Citus passes it on to the workers
    as the query string it came in, which would run every other statement
    of the string there too."""
    cursor.execute(
        BOUND_LOCK_WAITS_SQL,
        {"lock_timeout_ms": round(settings.DATABASE_LOCK_TIMEOUT * 1000)},
    )
