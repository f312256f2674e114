"""Wait until the configured PostgreSQL accepts a connection (bounded).

Run by docker/entrypoint.sh before anything touches the database, so a
container started together with its database does not fail on the first
connection. SQLite needs no waiting. DATABASE_WAIT_TIMEOUT bounds the wait.
"""

import os
import sys
import time

import django
from django.db import connection
from django.db.utils import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cartproject.settings")


def main() -> int:
    django.setup()
    if connection.vendor != "postgresql":
        return 0
    deadline = time.monotonic() + float(os.environ.get("DATABASE_WAIT_TIMEOUT", "60"))
    while True:
        try:
            connection.ensure_connection()
        except OperationalError as error:
            if time.monotonic() >= deadline:
                print(f"wait_for_db: database unreachable: {error}", file=sys.stderr)
                return 1
            time.sleep(1)
        else:
            connection.close()
            return 0


if __name__ == "__main__":
    sys.exit(main())
