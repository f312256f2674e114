"""Paths the repository's code and scripts name are paths of this checkout."""

import re
import subprocess

import pytest

from devtools.liveservice import ROOT

pytestmark = pytest.mark.repository


def test_every_page_the_code_names_by_path_is_in_the_checkout():
    tracked = subprocess.run(
        ["git", "ls-files", "--", ":!*.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    named = {
        (name, path)
        for name in tracked
        if (ROOT / name).is_file()
        for path in re.findall(
            r"[\w./-]+/[\w.-]+\.md\b", (ROOT / name).read_text(errors="replace")
        )
    }

    missing = [
        f"{name}: {path}"
        for name, path in sorted(named)
        if path.startswith("../") or not (ROOT / path).is_file()
    ]

    assert len(named) > 10
    assert missing == []
