"""The embedded default: the same write statements run on SQLite."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_cart_statements_run_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cart.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "cartproject.settings",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.sqlite_scenario"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "sqlite scenario ok" in result.stdout
