"""Production settings are safe: Django's deploy checks pass with the
environment deploy/production.env gives, and no secret is in the repository."""

import json
import logging
import os
import re
import secrets
import subprocess
import sys

import pytest

from devtools.liveservice import ROOT, Gunicorn

from .conftest import database_url_for_tests


def production_env() -> dict[str, str]:
    """deploy/production.env; its <placeholders> get fresh secrets."""
    text = (ROOT / "deploy" / "production.env").read_text()
    env = dict(re.findall(r"^([A-Z_]+)=(\S*)", text, flags=re.M))
    return {
        name: secrets.token_urlsafe(50) if value.startswith("<") else value
        for name, value in env.items()
    }


def run_python(code: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run in a fresh process with only `env` for the service's settings."""
    ours = ("DJANGO_", "CART_", "DATABASE_URL", "REDIS_URL")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return subprocess.run(
        [sys.executable, *code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "cartproject.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env
    )


@pytest.mark.repository
def test_check_deploy_passes_with_the_documented_production_environment():
    env = production_env()

    result = check_deploy(env)

    assert env["DJANGO_SECURE_PROXY_SSL_HEADER"] == "HTTP_X_FORWARDED_PROTO,https"
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.repository
def test_behind_its_proxy_the_production_environment_limits_each_client_apart(
    transactional_db, tmp_path
):
    """The TLS proxy appends the address it sees to X-Forwarded-For; with the
    production environment each client has a bucket of its own, not one for
    every client the proxy forwards."""
    env = production_env()
    proxied = {"Host": env["DJANGO_ALLOWED_HOSTS"], "X-Forwarded-Proto": "https"}
    # The readiness poll asks for 127.0.0.1 directly, not through the proxy.
    env["DJANGO_ALLOWED_HOSTS"] += ",127.0.0.1"
    env["CART_THROTTLE_GUEST"] = "2/min"

    def new_guest(server: Gunicorn, client: str) -> int:
        headers = {**proxied, "X-Forwarded-For": client}
        return server.request("POST", "/guests", headers=headers).status

    with Gunicorn(database_url_for_tests(), tmp_path, env=env) as server:
        first = [new_guest(server, "203.0.113.7") for _ in range(3)]
        second = [new_guest(server, "198.51.100.23") for _ in range(2)]
        # What a client writes in the header itself comes before the proxy's.
        forged = new_guest(server, "198.51.100.99, 203.0.113.7")

    assert first == [201, 201, 429]
    assert second == [201, 201]
    assert forged == 429


def test_check_deploy_fails_when_the_tls_settings_are_missing():
    result = check_deploy({"DJANGO_SECRET_KEY": secrets.token_urlsafe(50)})

    assert result.returncode != 0
    for warning in ["W004", "W008", "W012", "W016"]:
        assert f"security.{warning}" in result.stderr


def test_rates_proxies_and_the_shared_cache_come_from_the_environment():
    show = (
        "import django, json; django.setup(); from django.conf import settings;"
        " print(json.dumps([settings.CART_THROTTLE_RATES,"
        " settings.REST_FRAMEWORK['NUM_PROXIES'],"
        " settings.CACHES['throttle']['BACKEND']]))"
    )
    result = run_python(
        ["-c", show],
        {
            "DJANGO_SECRET_KEY": "x" * 50,
            "CART_THROTTLE_ANON": "10/s",
            "CART_THROTTLE_USER": "7/min",
            "CART_THROTTLE_STAFF": "5000/min",
            "CART_THROTTLE_GUEST": "3/hour",
            "CART_NUM_PROXIES": "1",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"anon": "10/s", "user": "7/min", "staff": "5000/min", "guest": "3/hour"},
        1,
        "django.core.cache.backends.redis.RedisCache",
    ]


@pytest.fixture
def behind_a_tls_proxy(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600


def test_plain_http_is_redirected_except_the_probes(behind_a_tls_proxy, client):
    redirected = client.get("/products", HTTP_HOST="localhost")
    probe = client.get("/healthz")
    over_tls = client.get("/healthz", HTTP_X_FORWARDED_PROTO="https")

    assert redirected.status_code == 301
    assert redirected["Location"] == "https://localhost/products"
    assert probe.status_code == 200
    assert "Strict-Transport-Security" not in probe
    assert over_tls["Strict-Transport-Security"].startswith("max-age=3600")


def test_sql_and_its_token_parameters_are_not_logged_even_in_debug(
    alice, make_client, settings, caplog
):
    settings.DEBUG = True
    caplog.set_level(logging.DEBUG)
    mallory = make_client("mallory")

    assert alice.get("/cart/alice").status_code == 200
    assert mallory.get("/cart/alice").status_code == 403

    assert "Forbidden: /cart/alice" in caplog.text  # the log was captured
    assert alice.token not in caplog.text
    assert mallory.token not in caplog.text


SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\b[0-9a-f]{40}\b"),  # an API token's shape
    re.compile(
        r"(?i)(secret|password|passwd|token)\w*\s*[:=]\s*"
        r"[\"'](?!django-insecure-)[^\"'\s<>{}$]{8,}[\"']"
    ),
]


@pytest.mark.repository
def test_no_secret_or_password_is_committed():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # Tests hold throwaway passwords and fake tokens for their own accounts.
    files = [name for name in tracked if not name.startswith("tests/")]

    found = [
        f"{name}: {match.group(0)}"
        for name in files
        if (ROOT / name).is_file()
        for pattern in SECRET_PATTERNS
        for match in pattern.finditer((ROOT / name).read_text(errors="replace"))
    ]

    assert len(files) > 10
    assert found == []
