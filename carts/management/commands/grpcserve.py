from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from carts.grpc.server import serve


class Command(BaseCommand):
    help = (
        "Serve Online Boutique's gRPC cart service (hipstershop.CartService), "
        "grpc.health.v1 and server reflection, plaintext HTTP/2, on the same "
        "database as the web process, until SIGTERM: then calls in flight "
        "finish (CART_GRPC_GRACE). Defaults from CART_GRPC_BIND, CART_GRPC_PORT "
        "and CART_GRPC_THREADS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=settings.CART_GRPC_BIND)
        parser.add_argument("--port", type=int, default=settings.CART_GRPC_PORT)
        parser.add_argument("--threads", type=int, default=settings.CART_GRPC_THREADS)

    def handle(
        self, *args: Any, bind: str, port: int, threads: int, **options: Any
    ) -> None:
        try:
            serve(bind=bind, port=port, threads=threads, grace=settings.CART_GRPC_GRACE)
        except OSError as error:
            raise CommandError(str(error)) from error
