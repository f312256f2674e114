"""Container health check of the gRPC server, like grpc_health_probe:

    python -m carts.grpc.probe [HOST:PORT]

Asks grpc.health.v1 for the cart service; exit 0 when SERVING, else 1 (Docker's
healthy / unhealthy). The address defaults to this host's CART_GRPC_PORT. No
Django: it starts in a fraction of the time a manage.py command takes.
"""

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICE = "hipstershop.CartService"


def main(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=3
            )
        except grpc.RpcError as error:
            print(f"probe: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    if status != "SERVING":
        print(f"probe: {SERVICE} is {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    default = f"127.0.0.1:{os.environ.get('CART_GRPC_PORT') or 7070}"
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
