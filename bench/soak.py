"""Soak: 2 minutes of mixed cart traffic on the real service, then a verdict.

    make soak        (scripts/with-postgres .venv/bin/python -m bench.soak)

Starts gunicorn (gunicorn.conf.py, 2 workers, worker recycling off so that a
leak cannot hide behind it) on the database of DATABASE_URL, and drives it
from 127.0.0.1 only: CLIENTS threads, each request chosen at random among add,
read, set, remove, clear and the catalog, for SHOPPERS carts, mostly through a
staff token as a shop front end would, some through the shopper's own token.
Bounded in time and in count. Passes when no request failed (no 5xx, no
connection error, only the statuses the contract gives) and every worker's
RSS at the end is within 10% of its RSS after the warm-up. The figures are
printed and written to bench/soak-last.json.
"""

import json
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from carts.demo import CANDLE_HOLDER, LOAFERS, MUG, SHAKERS, SUNGLASSES
from devtools.liveservice import ROOT, Gunicorn, manage, prepare_database

DURATION = float(os.environ.get("SOAK_SECONDS", 120))
WARM_UP = 20.0
CLIENTS = 6
SHOPPERS = 50
MAX_REQUESTS = 500_000
PRODUCTS = [LOAFERS, MUG, SHAKERS, SUNGLASSES, CANDLE_HOLDER]
# What each kind of request may answer; anything else is a failure.
EXPECTED = {
    "add": {200, 201},
    "read": {200},
    "set": {200, 201, 204},
    "remove": {204, 404},
    "clear": {204},
    "catalog": {200},
}
MIX = ["add"] * 35 + ["read"] * 30 + ["set"] * 15 + ["remove"] * 10
MIX += ["clear"] * 3 + ["catalog"] * 7


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


def one_request(server: Gunicorn, rng: random.Random, tokens: dict) -> tuple:
    kind = rng.choice(MIX)
    shopper = f"shopper{rng.randrange(SHOPPERS)}"
    # One request in five as the shopper, the rest as the front end (staff).
    token = tokens.get(shopper) if rng.random() < 0.2 else tokens["staff"]
    product = rng.choice(PRODUCTS)
    if kind == "add":
        body = {"product_id": product, "quantity": rng.randint(1, 3)}
        answer = server.request("POST", f"/cart/{shopper}", token=token, body=body)
    elif kind == "read":
        answer = server.request("GET", f"/cart/{shopper}", token=token)
    elif kind == "set":
        path = f"/cart/{shopper}/items/{product}"
        body = {"quantity": rng.randint(0, 5)}
        answer = server.request("PUT", path, token=token, body=body)
    elif kind == "remove":
        path = f"/cart/{shopper}/items/{product}"
        answer = server.request("DELETE", path, token=token)
    elif kind == "clear":
        answer = server.request("DELETE", f"/cart/{shopper}", token=token)
    else:
        answer = server.request("GET", f"/products/{product}")
    return kind, answer.status, answer.seconds


def create_shoppers(database_url: str) -> dict[str, str]:
    code = (
        "from rest_framework.authtoken.models import Token\n"
        "from carts.models import User\n"
        f"for n in range({SHOPPERS}):\n"
        "    user, _ = User.objects.get_or_create(username=f'shopper{n}')\n"
        "    token, _ = Token.objects.get_or_create(user=user)\n"
        "    print(user.username, token.key)\n"
    )
    out = manage(database_url, "shell", "-c", code)
    return dict(re.findall(r"^(shopper\d+) (\w+)$", out, flags=re.M))


def main() -> int:
    database_url = os.environ["DATABASE_URL"]
    tokens = {**prepare_database(database_url), **create_shoppers(database_url)}
    rates = {f"CART_THROTTLE_{s}": "1000000/min" for s in ["ANON", "USER", "STAFF"]}
    env = {"GUNICORN_MAX_REQUESTS": "0", **rates}
    results: list[tuple] = []
    lock = threading.Lock()
    with (
        tempfile.TemporaryDirectory() as directory,
        Gunicorn(database_url, Path(directory), workers=2, env=env) as server,
    ):
        started = time.monotonic()
        deadline = started + DURATION

        def client(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < deadline and len(results) < MAX_REQUESTS:
                try:
                    outcome = one_request(server, rng, tokens)
                except OSError as error:
                    outcome = ("connection", type(error).__name__, 0.0)
                with lock:
                    results.append(outcome)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(WARM_UP)
        workers = sorted(server.worker_pids())
        warm = {pid: rss_kib(pid) for pid in workers}
        warm_count = len(results)
        samples = []
        while time.monotonic() < deadline:
            time.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
            samples.append({pid: rss_kib(pid) for pid in workers})
        for thread in threads:
            thread.join(timeout=30)
        end = {pid: rss_kib(pid) for pid in workers}
        same_workers = sorted(server.worker_pids()) == workers
        elapsed = time.monotonic() - started

    statuses = Counter((kind, status) for kind, status, _ in results)
    failures = {
        f"{kind} {status}": count
        for (kind, status), count in statuses.items()
        if status not in EXPECTED.get(kind, ())
    }
    latencies = sorted(seconds for *_, seconds in results)
    growth = {pid: end[pid] / warm[pid] - 1 for pid in workers}
    report = {
        "seconds": round(elapsed, 1),
        "requests": len(results),
        "requests_after_warm_up": len(results) - warm_count,
        "per_second": round(len(results) / elapsed, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1),
        "statuses": {f"{k} {s}": n for (k, s), n in sorted(statuses.items())},
        "failures": failures,
        "rss_kib_after_warm_up": warm,
        "rss_kib_samples": samples,
        "rss_kib_end": end,
        "rss_growth_percent": {pid: round(100 * g, 2) for pid, g in growth.items()},
        "same_workers_throughout": same_workers,
        "cores": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
    }
    passed = not failures and same_workers and all(g <= 0.10 for g in growth.values())
    report["verdict"] = "pass" if passed else "FAIL"
    text = json.dumps(report, indent=2, default=str)
    (ROOT / "bench" / "soak-last.json").write_text(text + "\n")
    print(text)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
