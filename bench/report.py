"""RESULTS.md from a run's cells: the service against the floor, the gRPC
server and the layered servers next to them, the first write to a new cart,
checkout, the service against a --baseline revision of itself, CPU and
memory, the hot line."""

from statistics import median

from events import events_lines
from testbed import machine
from workloads import CHECKOUT_USERS, FRESH_USERS, LAYERED_WORKLOAD, LAYERS

# Issue 14's targets: the service's share of the machine next to the floor's.
MIN_THROUGHPUT_RATIO = 0.70
MAX_P99_RATIO = 3.0
MAX_SERVER_CPU_RATIO = 1.4
# Issue 28's: the first write to a new cart next to an add to an existing one.
MAX_FIRST_ADD_RATIO = 1.3


def server_cpu_ms(cell: dict) -> float:
    """Server CPU (gunicorn master and workers) per answered request, in ms."""
    return 1000 * cell["cpu_server"] / cell["requests"]


def meets(service: dict, floor: dict) -> str:
    failed = []
    if service["rps"] < MIN_THROUGHPUT_RATIO * floor["rps"]:
        failed.append("throughput")
    if server_cpu_ms(service) > MAX_SERVER_CPU_RATIO * server_cpu_ms(floor):
        failed.append("server CPU")
    if service["non_2xx"] or service["socket_errors"]:
        failed.append("errors")
    if service["p99_ms"] > MAX_P99_RATIO * floor["p99_ms"]:
        failed.append("p99")
    if service.get("hot") and not service["hot"]["passed"]:
        failed.append("hot count")
    return "yes" if not failed else "**no**: " + ", ".join(failed)


def render(report: dict) -> str:
    cells = report["cells"]
    args = report["args"]
    # The tables but the baseline's and the CPU table show the first round.
    pairs: dict[tuple[str, int], dict[str, dict]] = {}
    for cell in cells:
        if cell.get("round", 0) == 0:
            pairs.setdefault((cell["workload"], cell["concurrency"]), {})[
                cell["server"]
            ] = cell
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run.py); how to read it: bench/README.md.",
        "",
        f"- When: {report['started']:%Y-%m-%d %H:%M} to {report['finished']:%H:%M} UTC",
        f"- Machine: {machine()}; load average {report['load'][0][0]:.2f} before,"
        f" {report['load'][1][0]:.2f} after",
        "- Versions: "
        + ", ".join(f"{name} {number}" for name, number in report["versions"].items()),
        f"- Service: {report['service_config']}",
        f"- Floor: bench/floor.py under gunicorn `{report['floor_config']}`",
        *([f"- gRPC: {report['grpc_config']}"] if report.get("grpc_config") else []),
        *(
            [
                f"- Baseline: the service at `{report['baseline']}`, its own"
                " database in the same cluster, same configuration and load"
            ]
            if report.get("baseline")
            else []
        ),
        *(
            [
                f"- Rounds: the whole matrix {args.repeats} times; the tables but"
                " the baseline's and the CPU table show the first"
            ]
            if args.repeats > 1
            else []
        ),
        f"- Load: wrk, 2 threads, {args.warmup} s warm-up then {args.duration} s"
        " measured per cell; service and floor interleaved, alternating which"
        " goes first; 10,000 users with 3 lines each (and, for first-add,"
        f" {FRESH_USERS:,} with no cart yet); the service is called with a staff"
        " token",
        "",
        "## Throughput and latency",
        "",
        "| workload | conc. | service req/s | floor req/s | service ÷ floor"
        " | service p50 / p99 ms | floor p50 / p99 ms | p99 ÷ floor"
        " | server CPU ms/req service / floor | CPU ÷ floor"
        " | errors service / floor | targets met |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for (workload, concurrency), pair in pairs.items():
        if "floor" not in pair:
            continue  # a floorless workload: its own table below
        service, floor = pair["service"], pair["floor"]
        lines.append(
            f"| {workload} | {concurrency} | {service['rps']:.0f} | {floor['rps']:.0f}"
            f" | {service['rps'] / floor['rps']:.0%}"
            f" | {service['p50_ms']:.1f} / {service['p99_ms']:.1f}"
            f" | {floor['p50_ms']:.1f} / {floor['p99_ms']:.1f}"
            f" | {service['p99_ms'] / floor['p99_ms']:.1f}x"
            f" | {server_cpu_ms(service):.2f} / {server_cpu_ms(floor):.2f}"
            f" | {server_cpu_ms(service) / server_cpu_ms(floor):.2f}x"
            f" | {errors(service)} / {errors(floor)} | {meets(service, floor)} |"
        )
    lines += [
        "",
        "Errors are non-2xx answers + socket errors (connect, read, write,"
        " timeout). Server CPU is the gunicorn master's and workers' CPU time"
        " in the measured window per answered request. Targets (issue 14):"
        f" throughput ≥ {MIN_THROUGHPUT_RATIO:.0%} of the floor's, server CPU"
        f" per request ≤ {MAX_SERVER_CPU_RATIO} x the floor's, no error,"
        f" p99 ≤ {MAX_P99_RATIO:.0f} x the floor's (and, under `hot`, the count"
        " check below).",
        "",
        *refusals_lines(cells),
        *grpc_table(pairs),
        *citus_table(pairs),
        *layers_table(pairs),
        *first_add_table(pairs),
        *checkout_table(pairs),
        *events_lines(report.get("events")),
        *baseline_table(cells),
        "## CPU and memory during the measured window",
        "",
        "CPU seconds over the measured window, from /proc: the server (the"
        " gunicorn master and its workers, or the gRPC server), the PostgreSQL"
        " cluster, the load generator (wrk, or bench/grpc_load.py's processes),"
        " and everything else on the machine (other people's work: the noise)."
        " ms/req is server + database CPU per request. Load: the machine's"
        " 1-minute load average just before the measured window.",
        "",
        "| workload | conc. | side | round | load | server s | postgres s | load s"
        " | other s | ms/req | worker RSS MiB before → after |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for cell in cells:
        per_request = (cell["cpu_server"] + cell["cpu_database"]) / cell["requests"]
        lines.append(
            f"| {cell['workload']} | {cell['concurrency']} | {cell['server']}"
            f" | {cell.get('round', 0) + 1} | {cell.get('load_average', 0):.1f}"
            f" | {cell['cpu_server']:.1f} | {cell['cpu_database']:.1f}"
            f" | {cell['cpu_wrk']:.1f} | {cell['cpu_other']:.1f}"
            f" | {per_request * 1000:.2f}"
            f" | {cell['rss_before']:.1f} → {cell['rss_after']:.1f} |"
        )
    lines += ["", "Largest worker RSS over the whole run (MiB):", ""]
    for name, (first, last) in report["rss"].items():
        lines.append(
            f"- {name}: {max(first.values()):.1f} before the first cell,"
            f" {max(last.values()):.1f} after the last"
            f" ({len(set(first) - set(last))} of {len(first)} workers replaced)"
        )
    lines += [
        "",
        "## The hot line",
        "",
        "Every add of a `hot` run goes to one line, reset before the measured"
        " window. Each successful add answers with the line's new quantity;"
        " no lost update means these are all distinct, and the final quantity"
        " is their count plus the adds still in flight when wrk stopped (it"
        " does not wait for them; at most one per connection).",
        "",
        "| conc. | side | successful adds | distinct quantities | final quantity"
        " | in flight at stop | check |",
        "|--:|---|--:|--:|--:|--:|---|",
    ]
    for cell in cells:
        if hot := cell.get("hot"):
            lines.append(
                f"| {cell['concurrency']} | {cell['server']} | {hot['ok']}"
                f" | {hot['distinct']} | {hot['final']} | {hot['final'] - hot['ok']}"
                f" | {'passed' if hot['passed'] else '**failed**'} |"
            )
    return "\n".join(lines) + "\n"


def grpc_table(pairs: dict) -> list[str]:
    """The gRPC cells next to the REST service's (no floor of their own: the
    REST floor does the same database work)."""
    rows = [
        (workload, concurrency, pair["grpc"], pair["service"], pair["floor"])
        for (workload, concurrency), pair in pairs.items()
        if "grpc" in pair
    ]
    if not rows:
        return []
    lines = [
        "## gRPC (hipstershop.CartService) next to REST",
        "",
        "`add` is AddItem, `get` is GetCart, on the same users and products;"
        ' the gRPC server is one process (bench/README.md, "gRPC").',
        "",
        "| workload | conc. | gRPC calls/s | REST service req/s | gRPC ÷ REST"
        " | gRPC ÷ floor | gRPC p50 / p99 ms | REST p50 / p99 ms | gRPC errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for workload, concurrency, grpc_cell, service, floor in rows:
        lines.append(
            f"| {workload} | {concurrency} | {grpc_cell['rps']:.0f}"
            f" | {service['rps']:.0f} | {grpc_cell['rps'] / service['rps']:.0%}"
            f" | {grpc_cell['rps'] / floor['rps']:.0%}"
            f" | {grpc_cell['p50_ms']:.1f} / {grpc_cell['p99_ms']:.1f}"
            f" | {service['p50_ms']:.1f} / {service['p99_ms']:.1f}"
            f" | {errors(grpc_cell)} |"
        )
    return [*lines, ""]


def citus_table(pairs: dict) -> list[str]:
    """The service on a Citus cluster (--citus) next to the same service on
    one PostgreSQL: the same code, data and load."""
    rows = [
        (workload, concurrency, pair["citus"], pair["service"])
        for (workload, concurrency), pair in pairs.items()
        if "citus" in pair
    ]
    if not rows:
        return []
    lines = [
        "## The service on a Citus cluster",
        "",
        "The same service, data and load against a Citus 13.2 cluster on this"
        " machine (a coordinator and two workers, each a container on the host's"
        " network; migration carts 0016 distributes the carts by shopper) instead"
        " of one PostgreSQL. Database CPU per request: PostgreSQL's, or the"
        " cluster's (coordinator + workers; the CPU table's \"postgres s\" is the"
        " coordinator's alone). One machine shares its cores among all nodes:"
        " this measures what distribution costs, not what it gains.",
        "",
        "| workload | conc. | Citus req/s | PostgreSQL req/s | Citus ÷ PostgreSQL"
        " | Citus p50 / p99 ms | PostgreSQL p50 / p99 ms | server CPU ms/req"
        " Citus / PostgreSQL | database CPU ms/req cluster / PostgreSQL"
        " | Citus errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for workload, concurrency, citus, service in rows:
        cluster_ms = 1000 * citus["cpu_cluster"] / citus["requests"]
        postgres_ms = 1000 * service["cpu_database"] / service["requests"]
        lines.append(
            f"| {workload} | {concurrency} | {citus['rps']:.0f}"
            f" | {service['rps']:.0f} | {citus['rps'] / service['rps']:.0%}"
            f" | {citus['p50_ms']:.1f} / {citus['p99_ms']:.1f}"
            f" | {service['p50_ms']:.1f} / {service['p99_ms']:.1f}"
            f" | {server_cpu_ms(citus):.2f} / {server_cpu_ms(service):.2f}"
            f" | {cluster_ms:.2f} / {postgres_ms:.2f} | {errors(citus)} |"
        )
    return [*lines, ""]


def layers_table(pairs: dict) -> list[str]:
    """The service's get next to the same request path with less of its work
    (bench/layers.py), all under the same gunicorn settings."""
    rows = [
        (concurrency, pair)
        for (workload, concurrency), pair in pairs.items()
        if workload == LAYERED_WORKLOAD and set(LAYERS) <= set(pair)
    ]
    if not rows:
        return []
    lines = [
        "## Where a `get` spends the server's CPU",
        "",
        "The same request, answered by: the floor; a plain Django view with a"
        " constant body behind the service's middleware (no DRF, token check"
        " or query); a plain Django view that reads and renders the cart as"
        " the service does (no DRF, no token check); a view of the service's"
        " own with its token check,"
        " permissions and throttles through DRF, answering a constant cart"
        " (no query); the service. Same gunicorn settings (bench/layers.py).",
        "",
        "| conc. | answered by | req/s | server CPU ms/req | ÷ floor |",
        "|--:|---|--:|--:|--:|",
    ]
    names = {
        "floor": "floor (bare WSGI + the query)",
        "django": "Django view, constant answer",
        "query": "Django view + the cart's query, no DRF or token check",
        "drf": "DRF + token check, constant answer",
        "service": "the service",
    }
    for concurrency, pair in rows:
        floor_cpu = server_cpu_ms(pair["floor"])
        for name, label in names.items():
            cpu = server_cpu_ms(pair[name])
            lines.append(
                f"| {concurrency} | {label} | {pair[name]['rps']:.0f}"
                f" | {cpu:.2f} | {cpu / floor_cpu:.2f}x |"
            )
    return [*lines, ""]


def first_add_table(pairs: dict) -> list[str]:
    """Server CPU per request of the first write to a new cart, next to an add
    to a cart that exists, on each side."""
    rows = [
        (concurrency, side, pairs[("add", concurrency)][side], pair[side])
        for (workload, concurrency), pair in pairs.items()
        if workload == "first-add"
        for side in ("service", "floor")
        if side in pair and side in pairs.get(("add", concurrency), {})
    ]
    if not rows:
        return []
    lines = [
        "## The first write to a new cart",
        "",
        "`first-add` adds to users who exist but have no cart row yet, as every"
        " staff write to a new id and every Online Boutique session's first"
        " AddItem does, each request for another user; `add` adds to carts that"
        " exist. The floor runs the service's statements for both"
        f" (bench/floor.py). Target (issue 28): the service's ≤ {MAX_FIRST_ADD_RATIO}"
        " x its `add`'s server CPU per request.",
        "",
        "| conc. | side | add req/s | first-add req/s | server CPU ms/req add"
        " / first-add | first-add ÷ add | every request a new cart | target met |",
        "|--:|---|--:|--:|--:|--:|---|---|",
    ]
    for concurrency, side, add, first in rows:
        ratio = server_cpu_ms(first) / server_cpu_ms(add)
        met = "yes" if ratio <= MAX_FIRST_ADD_RATIO else "**no**"
        lines.append(
            f"| {concurrency} | {side} | {add['rps']:.0f} | {first['rps']:.0f}"
            f" | {server_cpu_ms(add):.2f} / {server_cpu_ms(first):.2f}"
            f" | {ratio:.2f}x"
            f" | {'yes' if first['first-add']['passed'] else '**no**'}"
            f" | {met if side == 'service' else '-'} |"
        )
    return [*lines, ""]


def checkout_table(pairs: dict) -> list[str]:
    """The checkout cells: the service's (and the baseline's if it has the
    endpoints) with no floor; the reference is the same server's `add`."""
    rows = [
        (concurrency, side, cell, pairs.get(("add", concurrency), {}).get(side))
        for (workload, concurrency), pair in pairs.items()
        if workload == "checkout"
        for side, cell in pair.items()
    ]
    if not rows:
        return []
    lines = [
        "## Checkout (hold + complete)",
        "",
        "Each checkout is two requests: `POST /cart/<id>/checkout` (the hold,"
        " 201) then `POST /cart/<id>/checkout/<checkout_id>/complete` (200),"
        f" each for another of {CHECKOUT_USERS:,} carts with 2 lines, restored"
        " before the warm-up and before the measured window. req/s and the"
        " latencies count requests (holds and completes alike); checkouts/s"
        " counts completes answered 200. The floor has no checkout, so the"
        " cell has no floor: its reference is the same server's `add` at the"
        " same concurrency (a checkout's server CPU ÷ an add's).",
        "",
        "| conc. | side | req/s | checkouts/s | p50 / p99 ms"
        " | server CPU ms per checkout | ÷ add's per request | errors"
        " | completed in the database / carts left with lines | check |",
        "|--:|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for concurrency, side, cell, add in rows:
        check = cell["checkout"]
        per_checkout = 1000 * cell["cpu_server"] / max(check["checkouts"], 1)
        versus_add = f"{per_checkout / server_cpu_ms(add):.2f}x" if add else "-"
        lines.append(
            f"| {concurrency} | {side} | {cell['rps']:.0f}"
            f" | {check['checkouts'] / cell['seconds']:.0f}"
            f" | {cell['p50_ms']:.1f} / {cell['p99_ms']:.1f}"
            f" | {per_checkout:.2f} | {versus_add} | {errors(cell)}"
            f" | {check['completed']} / {check['left']}"
            f" | {'passed' if check['passed'] else '**failed**'} |"
        )
    return [*lines, ""]


def spread(values: list[float], form: str) -> str:
    """The median, and the range when there is more than one value."""
    middle = format(median(values), form)
    if len(values) == 1:
        return middle
    return f"{middle} ({format(min(values), form)} to {format(max(values), form)})"


def baseline_table(cells: list[dict]) -> list[str]:
    """The service ÷ the --baseline revision, per cell, over the rounds."""
    rounds: dict[tuple[str, int], dict[int, dict[str, dict]]] = {}
    for cell in cells:
        if cell["server"] in ("service", "baseline"):
            rounds.setdefault((cell["workload"], cell["concurrency"]), {}).setdefault(
                cell.get("round", 0), {}
            )[cell["server"]] = cell
    rows = []
    for (workload, concurrency), by_round in rounds.items():
        both = [sides for sides in by_round.values() if len(sides) == 2]
        if both:
            rows.append((workload, concurrency, both))
    if not rows:
        return []
    lines = [
        "## The service against the baseline revision",
        "",
        "Ratios service ÷ baseline, each round's two windows measured back to"
        " back: the median over the rounds, then (with more than one) the"
        " lowest and highest. Throughput below 100% or server CPU above 1.00x"
        " means the service is slower than the baseline. Load: the load"
        " averages before the rounds' windows.",
        "",
        "| workload | conc. | rounds | req/s ÷ baseline | server CPU/req ÷ baseline"
        " | p99 ÷ baseline | service req/s | baseline req/s | errors service"
        " / baseline | load |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for workload, concurrency, both in rows:
        services = [sides["service"] for sides in both]
        befores = [sides["baseline"] for sides in both]
        pairs = list(zip(services, befores, strict=True))
        loads = [cell.get("load_average", 0) for cell in services + befores]
        throughput = spread([s["rps"] / b["rps"] for s, b in pairs], ".0%")
        cpu = spread([server_cpu_ms(s) / server_cpu_ms(b) for s, b in pairs], ".2f")
        p99 = spread([s["p99_ms"] / b["p99_ms"] for s, b in pairs], ".2f")
        lines.append(
            f"| {workload} | {concurrency} | {len(both)} | {throughput} | {cpu}x"
            f" | {p99}x | {spread([s['rps'] for s in services], '.0f')}"
            f" | {spread([b['rps'] for b in befores], '.0f')}"
            f" | {sum(int(errors(s)) for s in services)}"
            f" / {sum(int(errors(b)) for b in befores)}"
            f" | {min(loads):.1f} to {max(loads):.1f} |"
        )
    return [*lines, ""]


def refusals_lines(cells: list[dict]) -> list[str]:
    lines = [
        f"- {cell['server']}, {cell['workload']} at {cell['concurrency']}: "
        + ", ".join(f"{reason}: {count}" for reason, count in cell["refusals"].items())
        for cell in cells
        if cell.get("refusals")
    ]
    if not lines:
        return []
    return ["Non-2xx answers by reason, from the server's log:", "", *lines, ""]


def errors(cell: dict) -> str:
    return f"{cell['non_2xx'] + cell['socket_errors']}"
