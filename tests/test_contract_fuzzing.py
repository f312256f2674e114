"""Fuzzing the contract: schemathesis drives every operation of the service's
own /api/schema on the real service (gunicorn), and checks each answer
against that document."""

import subprocess
import sys
from pathlib import Path

from .conftest import database_url_for_tests
from .liveservice import Gunicorn

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]
# Per operation; all four phases (examples, coverage, fuzzing, stateful) run.
MAX_EXAMPLES = 50


def test_schemathesis_finds_no_failure_in_any_operation(
    make_client, catalog, transactional_db, tmp_path
):
    make_client("demo")  # the schema's example user
    staff_token = make_client("frontend", staff=True).token
    # The catalog is public: let the fuzzer through the per-IP limit.
    env = {"CART_THROTTLE_ANON": "100000/min"}
    with Gunicorn(database_url_for_tests(), tmp_path, env=env) as server:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "run",
                f"http://127.0.0.1:{server.port}/api/schema",
                "--checks",
                ",".join(CHECKS),
                "--header",
                f"Authorization: Token {staff_token}",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--request-timeout",
                "10",
                "--no-color",
            ],
            cwd=tmp_path,  # schemathesis keeps a cache in its working directory
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
    assert "Selected: 11/11" in result.stdout
    assert "Tested: 11" in result.stdout
    assert " passed" in result.stdout and "failure" not in result.stdout
