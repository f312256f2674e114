"""Network partitions on the loopback, with iptables (tests marked
`netfilter`, and tests/stack): every packet to or from the given ports
dropped, in both directions, and nothing else."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def iptables_usable() -> str | None:
    """None when this process may change the packet filter, else why not."""
    if os.geteuid() != 0:
        return "needs root (iptables)"
    if not (shutil.which("iptables") or os.path.exists("/usr/sbin/iptables")):
        return "iptables is missing: apt-get install iptables (scripts/ensure-iptables)"
    return None


def require_iptables() -> None:
    """Fail in CI (CI set), skip elsewhere, when iptables cannot be used."""
    if reason := iptables_usable():
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@contextmanager
def partition(*ports: int) -> Iterator[None]:
    """Drop every packet to or from each of `ports` on the loopback, both
    directions; nothing else is matched. A server's port cuts off all its
    clients; a client's own (ephemeral) port cuts off that one connection."""
    iptables = shutil.which("iptables") or "/usr/sbin/iptables"
    rules = [
        ["INPUT", "-i", "lo", "-p", "tcp", f"--{end}", str(port), "-j", "DROP"]
        for port in ports
        for end in ("dport", "sport")
    ]
    added = []
    try:
        for rule in rules:
            subprocess.run([iptables, "-w", "-I", *rule], check=True)
            added.append(rule)
        yield
    finally:
        for rule in added:
            subprocess.run([iptables, "-w", "-D", *rule], check=True)
    listed = subprocess.run(
        [iptables, "-w", "-S"], check=True, capture_output=True, text=True
    ).stdout
    assert not any(f" {port} " in listed + " " for port in ports)
