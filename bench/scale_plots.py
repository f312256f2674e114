"""The figures of a `make bench-scale` cell, and SCALE.md's plots: PNG files
made by matplotlib."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

STYLE = {"service": "-", "floor": "--", "grpc": ":"}
COLOUR = {"add": "C0", "get": "C1", "get-304": "C2", "add-key": "C3"}


def cost_ms(cell: dict) -> float:
    """Server and PostgreSQL CPU per request, in milliseconds."""
    return (cell["cpu_server"] + cell["cpu_database"]) / max(1, cell["requests"]) * 1e3


def p99_ms(cell: dict) -> float:
    return cell["p99_ms"]


def cells_of(report: dict, curve: str, **match) -> list[dict]:
    return [
        cell
        for cell in report["cells"]
        if cell["curve"] == curve
        and all(cell[key] == value for key, value in match.items())
    ]


def curve_plot(report, curve, workloads, folder: Path, name: str, xlabel: str):
    """CPU per request and p99 against the curve's points, one line a
    workload and server."""
    figure, (cpu_axis, p99_axis) = plt.subplots(1, 2, figsize=(11, 4))
    pairs = sorted({(cell["workload"], cell["server"]) for cell in report["cells"]})
    for workload, server in pairs:
        if workload not in workloads:
            continue
        cells = cells_of(report, curve, workload=workload, server=server)
        if not cells:
            continue
        points = [cell["point"] for cell in cells]
        label = f"{workload} ({server})"
        style = {"linestyle": STYLE[server], "color": COLOUR[workload], "marker": "o"}
        cpu_axis.plot(points, [cost_ms(c) for c in cells], label=label, **style)
        p99_axis.plot(points, [c["p99_ms"] for c in cells], label=label, **style)
    for axis, ylabel in (
        (cpu_axis, "server + db CPU ms / request"),
        (p99_axis, "p99 ms"),
    ):
        axis.set_xscale("log")
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
    cpu_axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(folder / name, dpi=100)
    plt.close(figure)
    return f"![{name}]({name})"


def purge_plot(purge: dict, folder: Path, name: str) -> str:
    figure, axis = plt.subplots(figsize=(11, 4))
    windows = purge["windows"]
    axis.step(
        [w["at"] + 2.5 for w in windows],
        [w["p99_ms"] for w in windows],
        "o-",
        where="mid",
        label="live p99 (mixed, per 5 s window)",
    )
    axis.set_xlabel("seconds from the purge's start")
    axis.set_ylabel("p99 ms")
    axis.set_ylim(bottom=0)
    left = axis.twinx()
    left.plot(
        *zip(*purge["remaining"], strict=True), color="grey", label="stale guests left"
    )
    left.set_ylabel("stale guests left")
    left.set_ylim(bottom=0)
    figure.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    figure.savefig(folder / name, dpi=100)
    plt.close(figure)
    return f"![{name}]({name})"


def bars_plot(groups: dict[str, list[dict]], folder: Path, name: str) -> str:
    """Side tables and gRPC: CPU per request of each cell, grouped."""
    figure, axes = plt.subplots(1, len(groups), figsize=(11, 4))
    for axis, (title, cells) in zip(axes, groups.items(), strict=True):
        labels = [cell["label"] for cell in cells]
        axis.bar(labels, [cost_ms(cell) for cell in cells])
        axis.set_title(title, fontsize="medium")
        axis.set_ylabel("server + db CPU ms / request")
        axis.tick_params(axis="x", labelsize="small", rotation=15)
    figure.tight_layout()
    figure.savefig(folder / name, dpi=100)
    plt.close(figure)
    return f"![{name}]({name})"
