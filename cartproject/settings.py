"""Settings for the cart service, read from the environment (12-factor).

Every variable is documented in docs/configuration.md. Development defaults are safe;
a production configuration that would be insecure refuses to start.
"""

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

# A pure module (no Django import): the limits' defaults, stated once.
from carts.domain.limits import Limits

BASE_DIR = Path(__file__).resolve().parent.parent

# Django's generic classes (ModelForm[Model], QuerySet[Model]) subscriptable at
# run time, as the type annotations write them.
django_stubs_ext.monkeypatch()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value is None or value == "" else int(value)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def env_duration(name: str, default: str) -> int:
    """Seconds, from "90" or "90s", "15m", "24h", "30d"."""
    value = (os.environ.get(name) or default).strip().lower()
    unit = _DURATION_UNITS.get(value[-1:])
    try:
        return int(value[:-1]) * unit if unit else int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be whole seconds, or end in s, m, h or d: {value!r}"
        ) from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item]


# ---------------------------------------------------------------------------
# Core
# ---------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)

# No default in production: with DEBUG off and no key, SECRET_KEY stays empty,
# Django refuses any use of it, and cartproject.wsgi refuses to serve. Commands
# that sign nothing (migrate, makemigrations --check, collectstatic) still run.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "django-insecure-development-only-key"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI's assets, served by WhiteNoise: the docs work offline.
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    # CORS for pages on other origins (settings below, under "Browser clients").
    "corsheaders",
    "carts",
]

MIDDLEWARE = [
    # First: every answer carries the request id and is counted.
    "carts.api.observability.ObservabilityMiddleware",
    # Next: every answer below it, refusals (413, 429, 503) included, carries
    # the CORS headers a page on another origin needs to read it.
    "carts.api.middleware.CorsMiddlewareForBrowsers",
    # First: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused unread (413).
    "carts.api.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below the static files, which never touch the database.
    "carts.api.middleware.DatabaseCallMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cartproject.urls"
WSGI_APPLICATION = "cartproject.wsgi.application"
AUTH_USER_MODEL = "carts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Paths are matched with and without a trailing slash by the URLconf itself,
# so CommonMiddleware must never redirect (a redirected POST loses its body).
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------
# Without DATABASE_URL the service runs on an embedded SQLite file.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that saves a round trip per request.
    DATABASES["default"]["ENGINE"] = "carts.database.postgresql"
    # Bounded waits (docs/reliability.md). libpq's own parameters; each can
    # also be set in DATABASE_URL's query string (?keepalives_idle=30).
    DATABASES["default"]["OPTIONS"] = {
        # Seconds for a new connection, authentication included (enforced by
        # carts.database.guard). 2 s: a connection attempt lost in a network
        # partition has retried its SYN (after 1 s) before giving up.
        "connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 2),
        # An idle connection whose peer vanished is found within about 25 s
        # and replaced before its next use, instead of costing a request.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        # Data the server has not acknowledged for 10 s: the peer is gone.
        "tcp_user_timeout": 10_000,
        **DATABASES["default"].get("OPTIONS", {}),
    }

# Client side, in seconds (0: none): each wait for the server (a query, a
# commit) ends with 503 after DATABASE_QUERY_TIMEOUT; /readyz allows
# DATABASE_READY_TIMEOUT. Longer than the server's own statement_timeout, so a
# slow statement is cancelled by the server, keeping its connection, and this
# deadline only ends waits for a server or network that stopped answering.
DATABASE_QUERY_TIMEOUT = float(os.environ.get("DATABASE_QUERY_TIMEOUT") or 3)
DATABASE_READY_TIMEOUT = float(os.environ.get("DATABASE_READY_TIMEOUT") or 1)
# Server side, in seconds (0: none), SET on every new connection.
DATABASE_STATEMENT_TIMEOUT = float(os.environ.get("DATABASE_STATEMENT_TIMEOUT") or 2)
DATABASE_LOCK_TIMEOUT = float(os.environ.get("DATABASE_LOCK_TIMEOUT") or 1)
DATABASE_IDLE_IN_TRANSACTION_TIMEOUT = float(
    os.environ.get("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT") or 10
)
# The bulkhead (carts.database.guard): requests of one process using the database
# at once. One fewer than gunicorn's threads, so that one thread is always free
# for /readyz and fast refusals (/healthz needs none: cartproject/worker.py). A
# request that finds every slot taken waits for one at most
# DATABASE_BULKHEAD_WAIT seconds, and not at all once a slot holder has waited
# DATABASE_STALL_AFTER seconds for an answer that has not arrived on its socket
# (stalled, not busy: a loaded server answers each round trip in milliseconds,
# a lock wait ends by DATABASE_LOCK_TIMEOUT, and an answer that arrived while
# its process ran late is not a stall).
DATABASE_BULKHEAD = env_int(
    "DATABASE_BULKHEAD", max(1, env_int("GUNICORN_THREADS", 4) - 1)
)
DATABASE_BULKHEAD_WAIT = float(os.environ.get("DATABASE_BULKHEAD_WAIT") or 3)
DATABASE_STALL_AFTER = float(os.environ.get("DATABASE_STALL_AFTER") or 0.5)

# DATABASE_URL leads to a pooler in transaction mode (PgBouncer): a server
# connection changes hands between transactions, so nothing may rely on the
# session: no server-side cursors, and no LISTEN (below).
DATABASE_TRANSACTION_POOLER = env_bool("DATABASE_TRANSACTION_POOLER", False)
if DATABASE_TRANSACTION_POOLER:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True

# Each PostgreSQL connection caches token lookups and LISTENs for the changes
# that empty its cache (carts.auth.token_cache). Off behind a transaction
# pooler, where the notifications would reach some other client's connection;
# a connection that does not reach PostgreSQL directly (the pooler was not
# declared) finds that out and keeps no cache either.
CART_TOKEN_CACHE = env_bool("CART_TOKEN_CACHE", not DATABASE_TRANSACTION_POOLER)
if CART_TOKEN_CACHE and DATABASE_TRANSACTION_POOLER:
    raise ImproperlyConfigured(
        "CART_TOKEN_CACHE cannot work behind a transaction pooler "
        "(DATABASE_TRANSACTION_POOLER=1): a revoked token would stay accepted."
    )

# ---------------------------------------------------------------------------
# Internationalisation, static files
# ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Not the manifest variant: it would make every page fail until
    # collectstatic has run. The image runs collectstatic to pre-compress.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve admin assets straight from the apps when collectstatic has not run.
WHITENOISE_USE_FINDERS = True

# ---------------------------------------------------------------------------
# REST framework, errors, OpenAPI
# ---------------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    # Token first: its "Token" scheme is what the 401 WWW-Authenticate names.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token check, without compiling an ORM query per request.
        "carts.auth.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["drf_orjson_renderer.renderers.ORJSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": ["carts.api.parsers.DepthLimitedJSONParser"],
    # DRF's, with a shortcut when the answer can only be JSON (bench/README.md).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "carts.api.negotiation.ContentNegotiation",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_standardized_errors.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_HANDLER_CLASS": "carts.api.errors.CartExceptionHandler",
    # Every request may be refused as too large; the cart's own codes per
    # operation are declared in carts.api.openapi.
    "ALLOWED_ERROR_STATUS_CODES": [
        *("400", "401", "403", "404", "405", "406", "413", "415", "429", "500"),
    ],
    "ERROR_SCHEMAS": {"413": "carts.api.openapi.RequestTooLargeResponse"},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Cart service API",
    # What the service does today: docs/API.md (contract v3) says it in full.
    "DESCRIPTION": "Shopping carts (contract v3): add (a body, or query parameters "
    "for seed clients), read, set, remove and clear items; carts for any id, "
    "created by a staff write; guests (POST /guests) and the merge of a guest's "
    "cart at login; versions as ETags with If-None-Match and If-Match; safe "
    "retries with Idempotency-Key; expiry of stale carts; prices as added, "
    "warnings when they changed, reprice, and a checkout hold that nothing can "
    "change under a payment (hold, complete, cancel); a read-only catalog; "
    "health and readiness checks. The same carts are served over gRPC as Online "
    "Boutique's hipstershop.CartService.",
    "VERSION": "3.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs are public: a stale token in the browser must not hide them.
    "SERVE_AUTHENTICATION": [],
    # Swagger UI from drf-spectacular-sidecar's static files, not a CDN, and no
    # badge fetched from the public validator: nothing leaves the host.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "PREPROCESSING_HOOKS": ["carts.api.urls.schema_without_slash_variants"],
    # drf-standardized-errors' enums, named once instead of per endpoint.
    "ENUM_NAME_OVERRIDES": {
        name: f"drf_standardized_errors.openapi_serializers.{name}.choices"
        for name in [
            "ValidationErrorEnum",
            "ClientErrorEnum",
            "ServerErrorEnum",
            *(
                f"ErrorCode{code}Enum"
                for code in (401, 403, 404, 405, 406, 415, 429, 500)
            ),
        ]
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        # Every body refuses unknown members, some requests as a whole: document
        # those errors too.
        "carts.api.openapi.document_validation_codes",
        # Every operation that takes a body needs one.
        "carts.api.openapi.require_request_bodies",
    ],
}

# ---------------------------------------------------------------------------
# The cart's own rules
# ---------------------------------------------------------------------------
CART_CURRENCY = os.environ.get("CART_CURRENCY", "USD")
CART_MAX_LINE_QUANTITY = env_int("CART_MAX_LINE_QUANTITY", Limits.max_item_quantity)
CART_MAX_LINES = env_int("CART_MAX_LINES", Limits.max_items)
# Staff writes to an unknown user id create that shopper and its cart; off,
# unknown users are 404 user_not_found as in v1.
CART_AUTO_CREATE_USERS = env_bool("CART_AUTO_CREATE_USERS", True)
# Expiry (manage.py purge_carts): how long an untouched cart lives.
CART_GUEST_TTL = env_duration("CART_GUEST_TTL", "30d")
CART_MERGED_GUEST_TTL = env_duration("CART_MERGED_GUEST_TTL", "7d")
CART_USER_CART_TTL = env_duration("CART_USER_CART_TTL", "90d")  # 0: never
# Safe retries: how long a stored answer to an Idempotency-Key is kept. A
# repeat waits for its first at most DATABASE_LOCK_TIMEOUT, then 409.
CART_IDEMPOTENCY_TTL = env_duration("CART_IDEMPOTENCY_TTL", "24h")
# Checkout: how long a hold lasts (then it counts as released), and how long a
# completed checkout's order snapshot is kept (purge_carts).
CART_CHECKOUT_TTL = env_duration("CART_CHECKOUT_TTL", "15m")
CART_COMPLETED_CHECKOUT_TTL = env_duration("CART_COMPLETED_CHECKOUT_TTL", "30d")
# Cart events (the outbox, API.md "Events") are kept this long, delivered or
# not; purge_carts deletes older ones.
CART_EVENT_TTL = env_duration("CART_EVENT_TTL", "7d")
# Where the event feed's long polls LISTEN (carts.events.feed), when the
# service's database sits behind a transaction pooler (where a LISTEN would
# belong to a borrowed server connection): a direct URL. Without one there,
# long polls re-read the feed once a second.
CART_EVENTS_LISTEN_URL = os.environ.get("CART_EVENTS_LISTEN_URL") or None

# ---------------------------------------------------------------------------
# Webhooks: cart events POSTed to the admin's endpoints (manage.py deliver_events)
# ---------------------------------------------------------------------------
# How long a delivery is retried before it is dead-lettered, counted from
# when it was queued (or redelivered by an operator).
CART_WEBHOOK_RETRY_FOR = env_duration("CART_WEBHOOK_RETRY_FOR", "24h")
# Backoff: the n-th retry waits between half and all of BASE x 2^(n-1),
# never more than MAX (jitter spreads a recovering receiver's load).
CART_WEBHOOK_RETRY_BASE = env_duration("CART_WEBHOOK_RETRY_BASE", "10s")
CART_WEBHOOK_RETRY_MAX = env_duration("CART_WEBHOOK_RETRY_MAX", "1h")
# Seconds an endpoint has to connect and to answer each read.
CART_WEBHOOK_TIMEOUT = env_duration("CART_WEBHOOK_TIMEOUT", "10s")
# POSTs in flight at once per endpoint and process (each to another cart).
CART_WEBHOOK_CONCURRENCY = env_int("CART_WEBHOOK_CONCURRENCY", 8)
# Seconds between looks for new events and due retries when idle.
CART_WEBHOOK_POLL_INTERVAL = float(os.environ.get("CART_WEBHOOK_POLL_INTERVAL") or 1)
# The deliverer's Prometheus metrics on this port of CART_WEBHOOK_METRICS_BIND
# (0: none).
CART_WEBHOOK_METRICS_PORT = env_int("CART_WEBHOOK_METRICS_PORT", 0)
CART_WEBHOOK_METRICS_BIND = os.environ.get("CART_WEBHOOK_METRICS_BIND", "127.0.0.1")
if min(CART_WEBHOOK_RETRY_BASE, CART_WEBHOOK_TIMEOUT, CART_WEBHOOK_CONCURRENCY) < 1:
    raise ImproperlyConfigured(
        "CART_WEBHOOK_RETRY_BASE, CART_WEBHOOK_TIMEOUT and "
        "CART_WEBHOOK_CONCURRENCY must be at least 1."
    )

# ---------------------------------------------------------------------------
# gRPC: Online Boutique's hipstershop.CartService (manage.py grpcserve)
# ---------------------------------------------------------------------------
# The address to listen on: loopback by default, as gunicorn's; "0.0.0.0" (or
# "[::]") in a container.
CART_GRPC_BIND = os.environ.get("CART_GRPC_BIND", "127.0.0.1")
CART_GRPC_PORT = env_int("CART_GRPC_PORT", 7070)
# Calls served at once, each thread with its own database connection. One
# above the bulkhead (DATABASE_BULKHEAD: calls using the database at once), as
# for gunicorn's threads: a thread is always free for health checks and fast
# refusals. Size a gRPC process with DATABASE_BULKHEAD; more threads than
# this only wait for a slot.
CART_GRPC_THREADS = env_int("CART_GRPC_THREADS", DATABASE_BULKHEAD + 1)
# On SIGTERM: how long calls in flight may take to finish, in seconds.
CART_GRPC_GRACE = env_duration("CART_GRPC_GRACE", "25s")

# ---------------------------------------------------------------------------
# Logging: one line per event on stdout, for the container's log collector
# ---------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "carts.api.observability.RequestIdLogFilter"}},
    "formatters": {
        "line": {
            "format": "%(levelname)s %(name)s request_id=%(request_id)s %(message)s"
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "line",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # SQL parameters include token keys: never log statements, even at DEBUG.
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# ---------------------------------------------------------------------------
# Browser clients on other origins: CORS (docs/API.md, "Browser clients")
# ---------------------------------------------------------------------------
# The origins whose pages may call the API, "https://shop.example.com,...";
# none by default. "*" (any origin) only in development.
_CORS_ORIGINS = env_list("CART_CORS_ALLOWED_ORIGINS", "")
CORS_ALLOW_ALL_ORIGINS = _CORS_ORIGINS == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else _CORS_ORIGINS
for _origin in CORS_ALLOWED_ORIGINS:
    # A path, a trailing slash or a missing scheme would match no browser's
    # Origin header: say so at start, not as a page's unexplained failure.
    _parts = urlsplit(_origin)
    if _parts.scheme not in {"http", "https"} or _origin != (
        f"{_parts.scheme}://{_parts.netloc}"
    ):
        raise ImproperlyConfigured(
            "CART_CORS_ALLOWED_ORIGINS takes origins, scheme://host[:port] with "
            f"nothing after, comma-separated, or '*' alone: {_origin!r}"
        )
if CORS_ALLOW_ALL_ORIGINS and not DEBUG:
    raise ImproperlyConfigured(
        "CART_CORS_ALLOWED_ORIGINS='*' lets any site's pages call the API: "
        "list the shop's origins instead (allowed with DJANGO_DEBUG on only)."
    )
# Never cookies across origins: a page authenticates with its token in
# Authorization, which it sends itself. So no other site's page can act with
# an operator's admin session, wildcard or not.
CORS_ALLOW_CREDENTIALS = False
# The methods and request headers the contract uses, nothing more.
CORS_ALLOW_METHODS = ["DELETE", "GET", "OPTIONS", "POST", "PUT"]
CORS_ALLOW_HEADERS = [
    *("accept", "authorization", "content-type", "idempotency-key"),
    *("if-match", "if-none-match", "x-request-id"),
]
# The response headers the contract defines, readable by the page's script
# (Content-Type and Content-Length are readable anyway).
CORS_EXPOSE_HEADERS = [
    *("ETag", "Idempotent-Replayed", "Retry-After", "WWW-Authenticate"),
    "X-Request-ID",
]
# Seconds a browser may reuse a preflight's answer: Chromium's own cap.
CORS_PREFLIGHT_MAX_AGE = 7200

# ---------------------------------------------------------------------------
# Reliability and security: body size, rate limits, TLS behind a proxy
# ---------------------------------------------------------------------------
# Bodies over 64 KiB are refused with 413 before anything reads them
# (carts.api.middleware): Django checks this limit only when `request.body` is
# read, and DRF's parsers read the stream directly.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

# Rate limits per user (by account) and per IP address (unauthenticated
# requests), "N/s|min|hour|day"; an empty value switches that limit off. Staff
# accounts act for many shoppers (a shop front end), so they have their own.
CART_THROTTLE_RATES = {
    "anon": os.environ.get("CART_THROTTLE_ANON", "300/min") or None,
    "user": os.environ.get("CART_THROTTLE_USER", "600/min") or None,
    "staff": os.environ.get("CART_THROTTLE_STAFF", "") or None,
    # POST /guests, per client address: each call creates a user.
    "guest": os.environ.get("CART_THROTTLE_GUEST", "20/min") or None,
}
REST_FRAMEWORK |= {
    "DEFAULT_THROTTLE_CLASSES": [
        "carts.api.throttling.AnonThrottle",
        "carts.api.throttling.UserThrottle",
        "carts.api.throttling.StaffThrottle",
    ],
    # The client address is REMOTE_ADDR unless this many proxies in front
    # append to X-Forwarded-For; trusting the header by default would let
    # anyone dodge the per-IP limit by sending it.
    "NUM_PROXIES": env_int("CART_NUM_PROXIES", 0),
}

# The counters live in a cache every gunicorn worker shares, with no database
# round trip: Redis when REDIS_URL is set (shared by all hosts), otherwise
# files in a directory (shared by the workers of one host).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": "cart",
            # A Redis that is down or hangs costs a request at most this, and
            # the limiter lets it through (carts.api.throttling).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if os.environ.get("REDIS_URL")
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.environ.get(
                "CART_THROTTLE_CACHE_DIR",
                os.path.join(tempfile.gettempdir(), "cart-throttle"),
            ),
            "OPTIONS": {"MAX_ENTRIES": env_int("CART_THROTTLE_CACHE_ENTRIES", 3000)},
        }
    ),
}

# Behind a TLS-terminating proxy: redirect plain HTTP (except the probes, which
# an orchestrator sends over plain HTTP), HSTS, cookies only over HTTPS. All
# off by default so the service also runs as plain HTTP on a private network.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", False)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
# "HTTP_X_FORWARDED_PROTO,https": the header the proxy sets, and its value for
# HTTPS. Only set it when the proxy always sets (or strips) that header.
_PROXY_SSL_HEADER = env_list("DJANGO_SECURE_PROXY_SSL_HEADER", "")
if _PROXY_SSL_HEADER:
    if len(_PROXY_SSL_HEADER) != 2:
        raise ImproperlyConfigured(
            "DJANGO_SECURE_PROXY_SSL_HEADER must be 'HEADER,value', "
            "e.g. 'HTTP_X_FORWARDED_PROTO,https'."
        )
    SECURE_PROXY_SSL_HEADER = tuple(_PROXY_SSL_HEADER)
