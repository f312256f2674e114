"""The repository's own gRPC files: the committed modules are what
scripts/generate-grpc makes of carts/grpc/cart.proto today, and the container
stage's round trip (scripts/grpc_round_trip.py) passes against real servers."""

import os
import subprocess
import sys

import pytest

from devtools.liveservice import ROOT, GrpcServer

from .conftest import database_url_for_tests

pytestmark = pytest.mark.repository

GENERATED = ["cart_pb2.py", "cart_pb2.pyi", "cart_pb2_grpc.py"]


def test_generated_grpc_modules_are_current(tmp_path):
    subprocess.run(
        [ROOT / "scripts" / "generate-grpc", tmp_path],
        env={**os.environ, "PYTHON": sys.executable},
        check=True,
    )

    for name in GENERATED:
        fresh = (tmp_path / "carts" / "grpc" / name).read_text()
        committed = (ROOT / "carts" / "grpc" / name).read_text()
        assert committed == fresh, f"run scripts/generate-grpc and commit {name}"


def test_the_container_stage_round_trip_passes(live_service, staff, tmp_path):
    with GrpcServer(database_url_for_tests(), tmp_path) as server:
        result = subprocess.run(
            [
                *(sys.executable, ROOT / "scripts" / "grpc_round_trip.py"),
                *(server.address, f"http://127.0.0.1:{live_service.port}"),
                staff.token,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert result.returncode == 0, result.stderr
    assert "grpc round trip: same cart over REST: [('L9ECAV7KIM', 5)]" in result.stdout
    assert result.stdout.count("grpc round trip:") == 6
