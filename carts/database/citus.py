"""Whether the database is a Citus cluster's coordinator (docs/scaling.md):
the citus extension is installed. Migration carts 0016 distributes the tables
only then, and the statements Citus cannot run as PostgreSQL does have their
Citus form (carts.cart.sql, carts.events.feed)."""

from typing import Any

INSTALLED_SQL = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"


def citus_installed(connection: Any) -> bool:
    """True on a PostgreSQL database with the citus extension; False on plain
    PostgreSQL and SQLite. Asked once per connection (an extension is not
    created under a running service)."""
    if connection.vendor != "postgresql":
        return False
    known: bool | None = getattr(connection, "_citus_installed", None)
    if known is None:
        with connection.cursor() as cursor:
            cursor.execute(INSTALLED_SQL)
            known = bool(cursor.fetchone()[0])
        connection._citus_installed = known
    return known
