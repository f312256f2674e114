import json
import os
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from rest_framework.authtoken.models import Token

from carts.auth.powers import manage_any_cart_permission
from carts.demo import DEMO_LINE
from carts.models import User


class Command(BaseCommand):
    help = (
        "Create (or reuse) a staff account and a demo shopper, each with an API "
        "token, and print the tokens with a ready-to-paste curl. The staff "
        "password comes from CART_ADMIN_PASSWORD, or is generated and printed "
        "once, when the account is created."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--staff", default="staff", help="staff username")
        parser.add_argument("--shopper", default="demo", help="shopper username")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(
        self, *args: Any, staff: str, shopper: str, base_url: str, **options: Any
    ) -> None:
        staff_user, staff_created = User.objects.get_or_create(
            username=staff, defaults={"is_staff": True, "is_superuser": True}
        )
        # Named, not only implied by is_superuser: the account a front end
        # uses needs this one power (docs/operations.md, service accounts).
        staff_user.user_permissions.add(manage_any_cart_permission())
        password = os.environ.get("CART_ADMIN_PASSWORD")
        if staff_created or password:
            shown_password = password or secrets.token_urlsafe(12)
            staff_user.set_password(shown_password)
            staff_user.save(update_fields=["password"])
        shopper_user, _ = User.objects.get_or_create(username=shopper)
        staff_token, _ = Token.objects.get_or_create(user=staff_user)
        shopper_token, _ = Token.objects.get_or_create(user=shopper_user)

        self.stdout.write(f"staff   {staff}: token {staff_token.key}")
        if staff_created and not password:
            self.stdout.write(
                f"        admin login {base_url}/admin/ password {shown_password}"
                " (shown once; set CART_ADMIN_PASSWORD to choose it)"
            )
        self.stdout.write(f"shopper {shopper}: token {shopper_token.key}")
        self.stdout.write(f"API docs {base_url}/api/docs")
        self.stdout.write("Try:")
        self.stdout.write(
            f"  curl -s -X POST {base_url}/cart/{shopper} "
            f"-H 'Authorization: Token {shopper_token.key}' "
            "-H 'Content-Type: application/json' "
            f"-d '{json.dumps(DEMO_LINE)}'"
        )
        self.stdout.write(
            f"  curl -s {base_url}/cart/{shopper} "
            f"-H 'Authorization: Token {shopper_token.key}'"
        )
