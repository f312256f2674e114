from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from carts.cart.expiry import carts_purge


class Command(BaseCommand):
    help = (
        "Expire carts: delete guests untouched for CART_GUEST_TTL and merged "
        "guests after CART_MERGED_GUEST_TTL (with their lines and tokens), and "
        "empty shoppers' carts untouched for CART_USER_CART_TTL, delete "
        "stored Idempotency-Key answers after CART_IDEMPOTENCY_TTL and checkouts "
        "after CART_COMPLETED_CHECKOUT_TTL. Works in "
        "batches, safe while the service serves; prints what it removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would go, change nothing"
        )
        parser.add_argument(
            "--batch-size", type=int, default=500, help="carts per transaction"
        )
        parser.add_argument(
            "--pause",
            type=float,
            default=0.0,
            help="seconds to wait between two batches of carts, to leave the "
            "machine to the live load (0: none)",
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=1,
            help="batches of carts expired at once, each on a connection of its "
            "own (PostgreSQL; 1 to 8)",
        )

    def handle(
        self,
        *args: Any,
        dry_run: bool,
        batch_size: int,
        pause: float,
        jobs: int,
        **options: Any,
    ) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if not 0 <= pause <= 60:
            raise CommandError("--pause must be 0 to 60 seconds.")
        if not 1 <= jobs <= 8:
            raise CommandError("--jobs must be 1 to 8.")
        report = carts_purge(
            batch_size=batch_size, pause=pause, jobs=jobs, dry_run=dry_run
        )
        verb = "would remove" if dry_run else "removed"
        self.stdout.write(
            f"purge_carts {verb}: {report.guests} stale guests, "
            f"{report.merged_guests} merged guests, "
            f"{report.shopper_carts} stale shopper carts emptied, "
            f"{report.idempotency_records} expired idempotency records, "
            f"{report.checkouts} old checkouts"
        )
