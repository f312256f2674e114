import os
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from carts.models import User

ROOT = Path(__file__).resolve().parent.parent


def run_in_project(command: list[str], **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def load_wsgi_application(**env):
    """What gunicorn (and runserver) do first: load cartproject.wsgi."""
    return run_in_project([sys.executable, "-c", "import cartproject.wsgi"], **env)


def test_production_config_without_secret_key_refuses_to_start():
    result = load_wsgi_application(DJANGO_DEBUG="0")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_debug_is_off_by_default():
    result = load_wsgi_application()

    assert result.returncode != 0  # off by default, hence the missing key is fatal


def test_production_config_with_secret_key_starts():
    assert load_wsgi_application(DJANGO_SECRET_KEY="x" * 50).returncode == 0


def test_migration_check_needs_no_secret_key():
    result = run_in_project(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"]
    )

    assert result.returncode == 0, result.stderr


def test_bootstrap_demo_creates_working_tokens(catalog, capsys, monkeypatch):
    monkeypatch.setenv("CART_ADMIN_PASSWORD", "operator-pass")

    call_command("bootstrap_demo")
    call_command("bootstrap_demo")  # idempotent

    out = capsys.readouterr().out
    shopper_token = Token.objects.get(user__username="demo").key
    staff = User.objects.get(username="staff")
    assert shopper_token in out
    assert "curl" in out
    assert staff.is_staff and staff.check_password("operator-pass")
    assert staff.user_permissions.filter(codename="manage_any_cart").exists()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {shopper_token}")
    assert client.get("/cart/demo").status_code == 200


def test_bootstrap_demo_prints_a_generated_password_once(db, capsys, monkeypatch):
    monkeypatch.delenv("CART_ADMIN_PASSWORD", raising=False)

    call_command("bootstrap_demo")
    first = capsys.readouterr().out
    call_command("bootstrap_demo")
    second = capsys.readouterr().out

    password = first.split(" password ")[1].split()[0]
    assert User.objects.get(username="staff").check_password(password)
    assert " password " not in second
