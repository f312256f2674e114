"""Fuzzing the contract: schemathesis drives every operation of the service's
own /api/schema on the real service (gunicorn), with every check it has (see
tests/schemathesis.toml for the one exception) and all four phases (examples,
coverage, fuzzing, stateful), and checks each answer against that document.

Twice: with a fixed seed, so a run is repeatable, and with a fresh random one,
so every run also explores new inputs; the random seed is in the test's id
(`...[seed-123]`), and `st run ... --seed 123` replays it."""

import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from devtools.liveservice import Gunicorn

from .conftest import database_url_for_tests, error_codes

# Seed 3 is one that found a body the schema called valid and the service
# refused (a NUL character in `product_id`), before the schema said so.
FIXED_SEED = 3
RANDOM_SEED = random.SystemRandom().randrange(2**31)
CONFIG = Path(__file__).with_name("schemathesis.toml")  # every check enabled
PHASES = ["Examples", "Coverage", "Fuzzing", "Stateful"]
# Per operation and phase.
MAX_EXAMPLES = 100


@pytest.mark.parametrize(
    "seed", [FIXED_SEED, RANDOM_SEED], ids=["fixed-seed", f"seed-{RANDOM_SEED}"]
)
def test_schemathesis_finds_no_failure_in_any_operation(
    seed, make_client, catalog, transactional_db, tmp_path
):
    make_client("demo")  # the schema's example user
    staff_token = make_client("frontend", staff=True).token
    # The catalog is public: let the fuzzer through the per-IP limit.
    env = {"CART_THROTTLE_ANON": "100000/min"}
    with Gunicorn(database_url_for_tests(), tmp_path, env=env) as server:
        schema = json.loads(server.request("GET", "/api/schema?format=json").body)
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "--config-file",
                str(CONFIG),
                "run",
                f"http://127.0.0.1:{server.port}/api/schema",
                "--phases",
                ",".join(phase.lower() for phase in PHASES),
                "--seed",
                str(seed),
                "--header",
                f"Authorization: Token {staff_token}",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--request-timeout",
                "10",
                # Nothing kept between runs: each run stands on its seed alone.
                "--generation-database",
                "none",
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    output = result.stdout
    assert result.returncode == 0, output[-8000:] + result.stderr
    summary = output[output.index("SUMMARY") :]
    operations = sum(len(item) for item in schema["paths"].values())
    assert operations >= 9
    assert f"Selected: {operations}/{operations}" in summary
    assert f"Tested: {operations}\n" in summary
    for phase in PHASES:
        assert f"✅ {phase}" in summary, summary
    assert f"Seed: {seed}" in summary
    assert " passed" in summary and "failure" not in summary.lower()


# What the broader fuzzing found where the document and the service disagreed,
# pinned on both sides.


def openapi_schema() -> dict[str, Any]:
    schema: dict[str, Any] = APIClient().get("/api/schema?format=json").json()
    return schema


def test_the_schema_says_what_the_service_refuses_a_nul_character_in_a_body(alice):
    schema = openapi_schema()
    product_id = schema["components"]["schemas"]["CartItemAddInput"]["properties"][
        "product_id"
    ]

    response = alice.post(
        "/cart/alice", {"product_id": "L9EC\x00AV7KIM"}, format="json"
    )

    assert response.status_code == 400
    assert error_codes(response) == ["null_characters_not_allowed"]
    assert re.search(product_id["pattern"], "L9EC\x00AV7KIM") is None
    assert re.search(product_id["pattern"], "L9ECAV7KIM") is not None


@pytest.mark.parametrize("product_id", [" L9ECAV7KIM", "\x1f"])
def test_a_product_id_in_a_body_is_taken_exactly_whitespace_included(alice, product_id):
    response = alice.post("/cart/alice", {"product_id": product_id}, format="json")

    assert response.status_code == 404
    assert error_codes(response) == ["product_not_found"]


def user_id_schema(operation: dict[str, Any]) -> dict[str, Any]:
    [parameter] = [p for p in operation["parameters"] if p["name"] == "user_id"]
    schema: dict[str, Any] = parameter["schema"]
    return schema


def test_every_write_refuses_an_id_that_cannot_be_a_username_and_says_so(staff):
    paths = openapi_schema()["paths"]
    write_id = user_id_schema(paths["/cart/{user_id}/items/{product_id}"]["put"])

    response = staff.put(
        "/cart/has space/items/L9ECAV7KIM", {"quantity": 0}, format="json"
    )

    assert response.status_code == 400
    assert error_codes(response) == ["invalid_user_id"]
    assert re.search(write_id["pattern"], "has space") is None
    assert re.search(write_id["pattern"], "guest-0a.b@c+d") is not None
    assert user_id_schema(paths["/cart/{user_id}"]["post"]) == write_id
    assert user_id_schema(paths["/cart/{user_id}/merge"]["post"]) == write_id
    assert "pattern" not in user_id_schema(paths["/cart/{user_id}"]["get"])
    assert staff.get("/cart/has space").status_code == 200


def test_a_merge_needs_a_body_with_exactly_one_source_and_the_schema_says_so(staff):
    schema = openapi_schema()
    merge = schema["paths"]["/cart/{user_id}/merge"]["post"]

    response = staff.post("/cart/alice/merge", content_type="application/json")

    assert response.status_code == 400
    assert error_codes(response) == ["merge_source_required"]
    assert merge["requestBody"]["required"] is True
    assert schema["components"]["schemas"]["CartMergeInput"]["oneOf"] == [
        {"required": ["guest_token"]},
        {"required": ["from_user_id"]},
    ]
