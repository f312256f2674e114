"""Load for the gRPC cells of `make bench`: wrk's part, for hipstershop.CartService.

    python -m bench.grpc_load ADDRESS WORKLOAD CONCURRENCY SECONDS USERS PRODUCTS
        [--processes N]

Closed loop, as wrk is: CONCURRENCY calls in flight at all times, spread over
N client processes (one HTTP/2 channel each, grpc.aio), so that the client's
Python is not what limits the rate. WORKLOAD `add`: AddItem of one unit of a
random product to a random user's cart (user00001..USERS); `get`: GetCart of
a random user. Prints one line `BENCH {json}` with the keys
bench/measurement.py reads from wrk (requests, duration_us, p50_us, p99_us,
status: non-OK answers, timeout: calls past their 5 s deadline).
"""

import argparse
import asyncio
import json
import multiprocessing
import random
import statistics
import time

DEADLINE = 5.0  # seconds per call, as wrk's --timeout


def one_process(address, workload, start_at, seconds, users, concurrency, products):
    """Run `concurrency` loops of calls from `start_at` for `seconds`; each
    call's latency, and the failed calls by status name."""
    import grpc  # after the fork-free spawn: each process its own gRPC runtime

    from carts.grpc import cart_pb2, cart_pb2_grpc

    rng = random.Random()
    latencies: list[float] = []
    failures: dict[str, int] = {}

    def request():
        user_id = f"user{rng.randint(1, users):05d}"
        if workload == "get":
            return cart_pb2.GetCartRequest(user_id=user_id)
        item = cart_pb2.CartItem(product_id=rng.choice(products), quantity=1)
        return cart_pb2.AddItemRequest(user_id=user_id, item=item)

    async def loop(call, stop_at):
        while (started := time.perf_counter()) < stop_at:
            try:
                await call(request(), timeout=DEADLINE)
            except grpc.aio.AioRpcError as error:
                name = error.code().name
                failures[name] = failures.get(name, 0) + 1
                continue
            latencies.append(time.perf_counter() - started)

    async def main():
        options = [("grpc.use_local_subchannel_pool", 1)]
        async with grpc.aio.insecure_channel(address, options=options) as channel:
            await channel.channel_ready()
            stub = cart_pb2_grpc.CartServiceStub(channel)
            call = stub.GetCart if workload == "get" else stub.AddItem
            await asyncio.sleep(max(0.0, start_at - time.time()))
            stop_at = time.perf_counter() + seconds
            await asyncio.gather(*(loop(call, stop_at) for _ in range(concurrency)))

    asyncio.run(main())
    return latencies, failures


def percentile_us(latencies: list[float], percent: int) -> int:
    if len(latencies) < 2:
        return int(latencies[0] * 1e6) if latencies else 0
    return int(statistics.quantiles(latencies, n=100)[percent - 1] * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("address")
    parser.add_argument("workload", choices=["add", "get"])
    parser.add_argument("concurrency", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("users", type=int)
    parser.add_argument("products", help="comma-separated product ids")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    processes = min(args.processes, args.concurrency)
    shares = [
        args.concurrency // processes + (number < args.concurrency % processes)
        for number in range(processes)
    ]
    # Every process connects first; the load starts at one moment for all.
    start_at = time.time() + 2.0
    products = args.products.split(",")
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        work = (args.address, args.workload, start_at, args.seconds, args.users)
        results = pool.starmap(
            one_process, [(*work, share, products) for share in shares]
        )
    latencies = [seconds for each, _ in results for seconds in each]
    failures: dict[str, int] = {}
    for _, failed in results:
        for name, count in failed.items():
            failures[name] = failures.get(name, 0) + count
    summary = {
        "requests": len(latencies) + sum(failures.values()),
        "duration_us": int(args.seconds * 1e6),
        "connect": 0,
        "read": 0,
        "write": 0,
        "status": sum(failures.values()) - failures.get("DEADLINE_EXCEEDED", 0),
        "timeout": failures.get("DEADLINE_EXCEEDED", 0),
        "p50_us": percentile_us(latencies, 50),
        "p99_us": percentile_us(latencies, 99),
        "max_us": int(max(latencies, default=0) * 1e6),
        "failures": failures,
    }
    print("BENCH " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
