#!/usr/bin/env bash
# The image's entrypoint: wait for the database, migrate when asked, then run
# the given command, or gunicorn with gunicorn.conf.py when none is given.
#   DJANGO_MIGRATE=1         run `manage.py migrate --noinput` first (default 0)
#   DATABASE_WAIT_TIMEOUT=60 seconds to wait for PostgreSQL (docker/wait_for_db.py)
set -euo pipefail
cd /app

# The script lives in docker/; the project (cartproject) is the working directory.
PYTHONPATH=. python docker/wait_for_db.py
if [[ ${DJANGO_MIGRATE:-0} == 1 ]]; then
  python manage.py migrate --noinput
fi
if (($# == 0)); then
  set -- gunicorn --config gunicorn.conf.py
fi
exec "$@"
