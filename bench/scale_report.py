"""bench/SCALE.md from a `make bench-scale` run (bench/scale.py's report);
the plots are scale_plots.py's."""

import bisect
from pathlib import Path

from scale_curves import SIDE_TABLES
from scale_explain import Plan
from scale_plots import bars_plot, cells_of, cost_ms, curve_plot, p99_ms, purge_plot

# The targets.
GROWTH_LIMIT = 1.15  # per-request cost, largest point ÷ smallest
LINES_LIMIT = 3.0  # a 100-line get ÷ a 3-line get
PURGE_RATE = 5_000  # carts per second
PURGE_P99_LIMIT = 2.0  # live p99 during the purge ÷ before
NEW_CART_LIMIT = 1.3  # AddItem to a new id ÷ to an existing cart


def one(report: dict, curve: str, **match) -> dict | None:
    found = cells_of(report, curve, **match)
    return found[0] if found else None


def verdict(ratio: float | None, limit: float, above: bool = False) -> str:
    if ratio is None:
        return "not measured"
    holds = ratio >= limit if above else ratio <= limit
    return "holds" if holds else "**misses**"


def refused(reasons: dict[str, int]) -> str:
    """The server's logged refusals, by reason."""
    return ", ".join(f"{count} {reason}" for reason, count in reasons.items())


def cell_table(cells: list[dict], first: str, value) -> list[str]:
    rows = [
        f"| {first} | workload | server | req/s | p50 ms | p99 ms "
        "| CPU ms/req (server + db) | errors | refusals | load avg |",
        "|--:|---|---|--:|--:|--:|--:|--:|---|--:|",
    ]
    for cell in cells:
        errors = cell["non_2xx"] + cell["socket_errors"]
        # Scale.cell measures a cell the server refused in part again.
        attempts = cell.get("attempts", 1)
        best = f" (fewest of {attempts} attempts)" if attempts > 1 else ""
        rows.append(
            f"| {value(cell)} | {cell['workload']} | {cell['server']} "
            f"| {cell['rps']:.0f} | {cell['p50_ms']:.1f} | {cell['p99_ms']:.1f} "
            f"| {cost_ms(cell):.2f} | {errors} | {refused(cell['refusals'])}{best} "
            f"| {cell['load_average']:.1f} |"
        )
    return rows


# wrk's tail_us (bench/wrk/common.lua): a run's percentiles from 90 to 100 in
# steps of 0.01, each step a ten-thousandth of its requests.
TAIL_STEP = 0.01


def pooled_percentile_ms(windows: list[dict], percent: float) -> float:
    """The `percent` percentile (above 90) of all these windows' requests
    together: the least latency of their tails that at most 100 - `percent`
    per cent of all the requests exceed. A window's own p99 says more of how
    many of the slowest requests fell in it than of the phase: the worst of
    eight windows is above the median of three even with nothing running
    besides (bench/README.md, "Scale")."""
    total = sum(w["requests"] for w in windows)

    def slower_than(latency_us: int) -> float:
        """How many requests took longer; below a window's tail, at least its
        tenth is counted."""
        count = 0.0
        for w in windows:
            above = len(w["tail_us"]) - bisect.bisect_right(w["tail_us"], latency_us)
            count += w["requests"] * above * TAIL_STEP / 100
        return count

    latencies = sorted({latency for w in windows for latency in w["tail_us"]})
    allowed = total * (100 - percent) / 100
    found = latencies[
        bisect.bisect_left(
            latencies, True, key=lambda latency: slower_than(latency) <= allowed
        )
    ]
    # Below a window's tail, how many of its requests were slower is not known.
    assert all(found >= w["tail_us"][0] for w in windows), "below a window's tail"
    return found / 1000


def purge_figures(purge: dict) -> dict:
    phases = {
        phase: [w for w in purge["windows"] if w["phase"] == phase]
        for phase in ("before", "during", "after")
    }
    p99s = {phase: [w["p99_ms"] for w in windows] for phase, windows in phases.items()}
    before = pooled_percentile_ms(phases["before"], 99)
    during = pooled_percentile_ms(phases["during"], 99)
    cpu = sum(purge["cpu"].values())
    return {
        "rate": purge["purged"] / max(purge["deleting_seconds"], 1e-9),
        "p99_before": before,
        "p99_during": during,
        "p99_after": pooled_percentile_ms(phases["after"], 99),
        "ratio": during / before,
        "p99_before_windows": (min(p99s["before"]), max(p99s["before"])),
        "p99_during_windows": (min(p99s["during"]), max(p99s["during"])),
        "carts_per_cpu_second": purge["purged"] / cpu if cpu else None,
        "cpu": purge["cpu"],
    }


def targets(report: dict) -> list[str]:
    rows = ["| target | measured | |", "|---|---|---|"]
    sizes = [point["carts"] for point in report["points"]]
    for workload in ("add", "get", "get-304"):
        small = one(
            report, "carts", point=sizes[0], workload=workload, server="service"
        )
        large = one(
            report, "carts", point=sizes[-1], workload=workload, server="service"
        )
        ratio = cost_ms(large) / cost_ms(small) if small and large else None
        rows.append(
            f"| {workload}: CPU per request at {sizes[-1]:,} carts <= "
            f"{GROWTH_LIMIT} x at {sizes[0]:,} | "
            + (f"{ratio:.2f} x" if ratio else "-")
            + f" | {verdict(ratio, GROWTH_LIMIT)} |"
        )
    three = one(report, "lines", point=3, workload="get", server="service")
    hundred = one(report, "lines", point=100, workload="get", server="service")
    for measure, figure in (("CPU per request", cost_ms), ("p99", p99_ms)):
        value = figure(hundred) / figure(three) if three and hundred else None
        rows.append(
            f"| 100-line get <= {LINES_LIMIT} x 3-line get ({measure}) | "
            + (f"{value:.2f} x" if value else "-")
            + f" | {verdict(value, LINES_LIMIT)} |"
        )
    purge = purge_figures(report["purge"])
    rows.append(
        f"| purge >= {PURGE_RATE:,} carts/s | {purge['rate']:,.0f} carts/s "
        f"| {verdict(purge['rate'], PURGE_RATE, above=True)} |"
    )
    rows.append(
        f"| live p99 during the purge <= {PURGE_P99_LIMIT} x before (of all the "
        f"phase's requests) | {purge['p99_during']:.1f} ms ÷ "
        f"{purge['p99_before']:.1f} ms = "
        f"{purge['ratio']:.2f} x | {verdict(purge['ratio'], PURGE_P99_LIMIT)} |"
    )
    existing = one(report, "grpc", point=0)
    new = one(report, "grpc", point=1)
    ratio = cost_ms(new) / cost_ms(existing) if existing and new else None
    rows.append(
        f"| gRPC AddItem to a new id <= {NEW_CART_LIMIT} x to an existing cart "
        "(CPU per request) | "
        + (f"{ratio:.2f} x" if ratio else "-")
        + f" | {verdict(ratio, NEW_CART_LIMIT)} |"
    )
    return rows


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f}"


def points_table(report: dict) -> list[str]:
    tables = list(report["points"][-1]["sizes"])
    rows = [
        "| carts | users (guest share) | lines (and earlier cells' adds) | load s "
        "| load avg | buffer hit | "
        + " | ".join(f"{table} MiB (indexes)" for table in tables)
        + " |",
        "|--:|--:|--:|--:|--:|--:|" + "--:|" * len(tables),
    ]
    for point in report["points"]:
        shape = point["shape"]
        rows.append(
            f"| {point['carts']:,} | {shape['users']:,} ({shape['guest_share']:.0%}) "
            f"| {int(shape['lines']):,} | {point['load_seconds']:.0f} "
            f"| {point['load_average']:.1f} | {point['cache_hit']:.1%} | "
            + " | ".join(
                f"{mib(size['table'])} ({mib(size['indexes'])})"
                for size in (point["sizes"][table] for table in tables)
            )
            + " |"
        )
    return rows


def plans_section(report: dict) -> list[str]:
    rows = [
        "| curve | statement | sequential scan of a cart table | execution ms |",
        "|---|---|---|--:|",
    ]
    details = []
    for plan in map(lambda fields: Plan(**fields), report["plans"]):
        statement = plan.statement.replace("|", "\\|")
        rows.append(
            f"| {plan.curve} | `{statement}` "
            f"| {', '.join(plan.sequential_scans) or 'none'} "
            f"| {plan.milliseconds:.2f} |"
        )
        details += [
            f"<details><summary>{plan.curve}: {statement}</summary>",
            "",
            "```",
            plan.text,
            "```",
            "</details>",
            "",
        ]
    return [*rows, "", *details]


def render(report: dict, folder: Path) -> str:
    """SCALE.md's text; the plots are written into `folder`."""
    args = report["args"]
    sizes = [point["carts"] for point in report["points"]]
    largest = f"{sizes[-1]:,}"
    purge = report["purge"]
    figures = purge_figures(purge)
    minutes = (report["finished"] - report["started"]).total_seconds() / 60
    versions = ", ".join(
        f"{name} {number}" for name, number in report["versions"].items()
    )
    for cell in report["cells"]:
        if cell["curve"] == "side":
            cell["label"] = f"{cell['point']:,} rows\n({cell['server']})"
        elif cell["curve"] == "grpc":
            cell["label"] = ("existing carts", "new ids")[cell["point"]]
    side_cells = {
        side.name: cells_of(report, "side", side_table=side.name)
        for side in SIDE_TABLES
    }
    grpc_cells = cells_of(report, "grpc")
    windows = [
        "| phase | from s | req/s | p50 ms | p99 ms | errors | refusals | load avg |",
        "|---|--:|--:|--:|--:|--:|---|--:|",
        *(
            f"| {w['phase']} | {w['at']:.0f} | {w['rps']:.0f} | {w['p50_ms']:.1f} "
            f"| {w['p99_ms']:.1f} | {w['errors']} | {refused(w['refusals'])} "
            f"| {w['load_average']:.1f} |"
            for w in purge["windows"]
        ),
    ]
    lines = [
        "# How the cost grows: carts, lines, side tables, gRPC, purge",
        "",
        f"Written by `make bench-scale` (`bench/scale.py`), started "
        f"{report['started']:%Y-%m-%d %H:%M} UTC, {minutes:.0f} minutes. What is "
        "measured and how: [README.md](README.md#scale-make-bench-scale). The "
        "machine was shared with other work: the load average (1 minute) is "
        "given for every point and cell, and a number measured at a high one "
        "says less.",
        "",
        f"- Machine: {report['machine']}; {versions}",
        f"- Service: {report['service_config']}",
        f"- PostgreSQL: the throwaway cluster of `scripts/with-postgres` "
        f"(fsync off), shared_buffers {report['shared_buffers']}",
        f"- Load: wrk, 2 threads, {args['concurrency']} connections, "
        f"{args['warmup']} s warm-up and {args['duration']} s measured per cell; "
        "CPU per request is the server's (gunicorn master and workers, or the "
        "gRPC process) plus the whole PostgreSQL cluster's, from /proc, over "
        "the requests answered",
        "",
        "## Targets",
        "",
        *targets(report),
        "",
        "## 1. Carts",
        "",
        "Each point adds its carts to the last one's (set-based SQL, "
        "`bench/scale_data.py`): users `user00001`…, three in five guests, each "
        "with a token, a cart row (version 3, a random generation) and 3 lines "
        "of 100 products, then `VACUUM ANALYZE`. The load draws its carts from "
        "all of them. Buffer hit: blocks found in shared buffers over blocks "
        "asked for during the point's cells (a miss may still come from the "
        "OS's page cache).",
        "",
        *points_table(report),
        "",
        curve_plot(
            report,
            "carts",
            ("add", "get", "get-304"),
            folder,
            "scale-carts.png",
            "carts",
        ),
        "",
        *cell_table(cells_of(report, "carts"), "carts", lambda c: f"{c['point']:,}"),
        "",
        f"## 2. Lines per cart (at {largest} carts)",
        "",
        "The carts of `user00001`…`user01000` rewritten to hold N lines "
        "(the same N products), the load drawn from them; `add` adds to a line "
        "the cart holds, so N holds through the cell.",
        "",
        curve_plot(
            report, "lines", ("add", "get"), folder, "scale-lines.png", "lines per cart"
        ),
        "",
        *cell_table(cells_of(report, "lines"), "lines", lambda c: c["point"]),
        "",
        f"## 3. Side tables and gRPC (at {largest} carts)",
        "",
        "`add-key` (an `Idempotency-Key` on every add) with the table of "
        f"stored answers emptied, then holding {args['side_rows']:,} answers "
        "of the same caller; `add` (each writes its event) with the outbox "
        f"(`carts_cartevent`) emptied, then holding {args['side_rows']:,} "
        "events of the loaded carts (the floor writes none: its cells show "
        "what the machine did meanwhile).",
        "",
        "gRPC `AddItem` (`bench/grpc_load.py`) to the loaded carts, then to "
        "ids drawn from `user00001`…`user200000000`, almost all unknown, so "
        "that each call creates a guest and its cart: "
        f"{report['grpc']['created']:,} users were created (warm-up "
        f"included); {report['grpc']['existing_share']:.2%} of the ids drawn "
        "existed.",
        "",
        bars_plot(
            side_cells | {"gRPC AddItem": grpc_cells}, folder, "scale-side-grpc.png"
        ),
        "",
        *(
            line
            for name, cells in side_cells.items()
            for line in [*cell_table(cells, name, lambda c: f"{c['point']:,}"), ""]
        ),
        *cell_table(grpc_cells, "ids", lambda c: c["label"]),
        "",
        f"## 4. Purge under load (at {largest} carts)",
        "",
        f"{purge['guests']:,} stale guests (last change 60 days ago, 3 lines, a "
        "token each) loaded, then `manage.py purge_carts` started while "
        "`mixed` (70% get, 30% add) runs in windows of 5 s; the stale guests "
        "left are counted every second.",
        "",
        f"- purge_carts: `{purge['output']}` (exit {purge['returncode']}), "
        f"{purge['seconds']:.0f} s from its start, {purge['deleting_seconds']:.0f} s "
        f"deleting: **{figures['rate']:,.0f} carts/s**",
        "- purge_carts' CPU (its process and its PostgreSQL backend): "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in purge["cpu"].items())
        + (
            f": **{figures['carts_per_cpu_second']:,.0f} carts per CPU-second**"
            if figures["carts_per_cpu_second"]
            else ""
        )
        + f" (options: `{purge['purge_args'] or 'none'}`)",
        "- live p99, of all the requests of each phase: "
        f"{figures['p99_before']:.1f} ms before, {figures['p99_during']:.1f} ms "
        f"during, {figures['p99_after']:.1f} ms after; the p99 of one 5 s "
        "window ranged from {:.1f} to {:.1f} ms before, from {:.1f} to {:.1f} ms "
        "during".format(*figures["p99_before_windows"], *figures["p99_during_windows"]),
        "",
        purge_plot(purge, folder, "scale-purge.png"),
        "",
        *windows,
        "",
        f"## 5. Plans at {largest} carts",
        "",
        "`EXPLAIN (ANALYZE, BUFFERS)` of the statements each curve runs, in a "
        "transaction rolled back; purge_carts' are caught as it sends them "
        "while one batch of 500 stale guests was expired and rolled back (a "
        "round trip of several statements split into them).",
        "",
        *plans_section(report),
    ]
    return "\n".join(lines).rstrip() + "\n"
