"""Instructions per request, the service against an earlier revision: the
measure a shared machine does not move. make bench's CPU seconds and
throughput differ by up to a tenth between two runs of the same code here
(bench/README.md, "Against an earlier revision"); an instruction count not
at all.

    make bench-instructions BENCH_ARGS="--baseline 6573dc3"

Each side's application (ours, and the revision's files from `git archive`)
runs in one process, without a server: each request is a WSGI call through
cartproject.wsgi (the lean path, the whole middleware stack), as gunicorn
makes it, against the side's own database of one throwaway cluster, seeded
as make bench seeds (bench/workloads.py). The process runs twice under
valgrind's callgrind, with no measured request and with N, after the same
warmup; the difference over N is one request's instructions in the process:
Python, psycopg2, libpq, not PostgreSQL's (its work is make bench's database
CPU). Every run has the same hash seed (PYTHONHASHSEED=0), so two counts of
the same code are equal. Two streams of users, each drawn by the same seed on
both sides:

- `new`: any of the 10,000 seeded users, mostly met for the first time by
  the process, as in make bench (whose workers meet each id once);
- `known`: 200 users, all met in the warmup: a shop's steady state, where
  each process remembers its customers' pks (carts.cart.owners).

Needs valgrind (Debian package `valgrind`); not part of `make test`.
"""

import argparse
import io
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WORKLOADS = ("add", "get")
STREAMS = {"new": (10_000, 50), "known": (200, 1_000)}  # users, warmup


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="git revision")
    parser.add_argument("--workloads", default="add,get")
    parser.add_argument("--requests", type=int, default=300, help="N per run")
    return parser.parse_args()


def main() -> None:
    import baseline
    from run import prepare_database
    from servers import BIN, OUT, ROOT
    from workloads import CATALOG, MAX_QUANTITY

    args = parse_args()
    if "DATABASE_URL" not in os.environ:
        sys.exit("bench: run me through `make bench-instructions`")
    if shutil.which("valgrind") is None:
        sys.exit("bench: needs valgrind (apt-get install valgrind)")
    workloads = args.workloads.split(",")
    products = [item["pk"] for item in json.loads(CATALOG.read_text())]
    token = secrets.token_hex(20)
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "CART_MAX_LINE_QUANTITY": str(MAX_QUANTITY),
    }
    OUT.mkdir(exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    with baseline.source_tree(args.baseline) as before:
        sides = {"baseline": before, "service": ROOT}
        urls = {}
        admin = baseline.connect(os.environ["DATABASE_URL"])
        for side, project in sides.items():
            urls[side] = baseline.create_database(
                admin, os.environ["DATABASE_URL"], f"instructions_{side}"
            )
            prepare_database(
                {**env, "DATABASE_URL": urls[side]}, products, token, project
            )
        for workload in workloads:
            for stream in STREAMS:
                for side, project in sides.items():
                    counts = [
                        callgrind_total(
                            BIN / "python",
                            project,
                            {**env, "DATABASE_URL": urls[side]},
                            [token, workload, stream, str(n), ",".join(products)],
                        )
                        for n in (0, args.requests)
                    ]
                    per_request = (counts[1] - counts[0]) / args.requests
                    results.setdefault(f"{workload} {stream}", {})[side] = per_request
    print(
        f"instructions per request, service against {baseline.describe(args.baseline)}"
    )
    print("| requests | before | service | service ÷ before |")
    print("|---|---|---|---|")
    for cell, sides_count in results.items():
        before_count, service_count = sides_count["baseline"], sides_count["service"]
        print(
            f"| {cell} | {before_count / 1e6:.3f} M | {service_count / 1e6:.3f} M"
            f" | {service_count / before_count:.3f} |"
        )
    (OUT / "instructions.json").write_text(json.dumps(results, indent=2))


def callgrind_total(
    python: Path, project: Path, env: dict, drive_args: list[str]
) -> int:
    """The instructions of one run of the driver under callgrind."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                str(python),
                __file__,
                "--drive",
                str(project),
                *drive_args,
            ],
            # One hash seed for every run: with a random one, the layout of
            # dicts and sets moved a count by up to 1.5% between two runs of
            # the same code.
            env={**env, "PYTHONHASHSEED": "0"},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        match = re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE)
        assert match, "callgrind wrote no summary"
        return int(match[1])


def drive(
    project: str, token: str, workload: str, stream: str, n: str, products: str
) -> None:
    """The driver (under valgrind): the warmup, then `n` requests."""
    os.chdir(project)
    sys.path.insert(0, project)
    os.environ["DJANGO_SETTINGS_MODULE"] = "cartproject.settings"
    from cartproject.wsgi import application

    users, warmup = STREAMS[stream]
    catalog = products.split(",")
    draw = random.Random(1)

    def request() -> None:
        user = f"/cart/user{draw.randint(1, users):05d}"
        body = b""
        if workload == "add":
            body = json.dumps(
                {"product_id": draw.choice(catalog), "quantity": 1}
            ).encode()
        status: list[str] = []
        answer = application(
            {
                "REQUEST_METHOD": "POST" if workload == "add" else "GET",
                "PATH_INFO": user,
                "QUERY_STRING": "",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "HTTP_HOST": "127.0.0.1:8000",
                "HTTP_AUTHORIZATION": f"Token {token}",
                "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_ADDR": "127.0.0.1",
                "wsgi.input": io.BytesIO(body),
                "wsgi.errors": sys.stderr,
                "wsgi.url_scheme": "http",
                "wsgi.multithread": True,
                "wsgi.multiprocess": True,
                "wsgi.run_once": False,
            },
            lambda line, headers, exc_info=None: status.append(line),
        )
        b"".join(answer)
        answer.close()
        if not status[0].startswith("20"):
            raise SystemExit(f"bench: {workload} answered {status[0]}")

    for _ in range(warmup + int(n)):
        request()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--drive"]:
        drive(*sys.argv[2:])
    else:
        main()
