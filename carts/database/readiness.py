"""Whether this process may take traffic: the database answers and every
migration is applied (/readyz)."""

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

_migrations_applied = False


def database_ready() -> bool:
    """True when the database answers and every migration is applied."""
    global _migrations_applied
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrations_applied:
            # Loading the migration graph is slow; once applied, it stays so
            # for the life of this process (new migrations mean a new deploy).
            executor = MigrationExecutor(connection)
            plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
            _migrations_applied = not plan
        return _migrations_applied
    except DatabaseError:
        return False
