"""The --baseline side: the service as it was at a git revision, run in the
same run as the current one, with the same configuration and load.

The revision's files come from `git archive` into a temporary folder outside
the repository (removed at the end; nothing in the repository changes); its
database is another database of the same throwaway cluster, migrated by the
revision's own code and seeded by the current seed (bench/workloads.py).
"""

import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from servers import ROOT

DATABASE = "bench_baseline"


def describe(revision: str) -> str:
    """The revision's short hash and subject, for RESULTS.md."""
    return subprocess.run(
        ["git", "log", "-1", "--format=%h %s", revision],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@contextmanager
def source_tree(revision: str):
    """The revision's files in a temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    try:
        archive = subprocess.Popen(
            ["git", "archive", "--format=tar", revision],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        subprocess.run(
            ["tar", "-x", "-C", str(folder)], stdin=archive.stdout, check=True
        )
        assert archive.stdout is not None  # stdout=PIPE
        archive.stdout.close()
        if archive.wait():
            raise SystemExit(f"bench: git archive {revision} failed")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def create_database(connection, url: str, name: str = DATABASE) -> str:
    """A new database `name` beside `url`'s in the same cluster; its URL."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def connect(url: str):
    connection = psycopg2.connect(url)
    connection.autocommit = True
    return connection
