"""The committed gRPC modules are what scripts/generate-grpc makes of
carts/grpc/cart.proto today."""

import os
import subprocess
import sys

import pytest

from .liveservice import ROOT

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
