"""Container health check: GET /healthz on the address gunicorn binds.

Python's standard library only, since the image has no curl. Exit 0 when the
service answers 200, else 1 (Docker's healthy / unhealthy).
"""

import os
import sys
import urllib.request

host, _, port = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rpartition(":")
if host in {"", "0.0.0.0", "[::]"}:
    host = "127.0.0.1"
try:
    with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=3) as reply:
        sys.exit(0 if reply.status == 200 else 1)
except OSError as error:
    print(f"healthcheck: {error}", file=sys.stderr)
    sys.exit(1)
