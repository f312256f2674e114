"""A per-connection cache of token lookups that PostgreSQL empties on every change.

Migration carts 0002 adds triggers that NOTIFY AUTH_CHANNEL whenever a
statement updates, deletes or truncates a token or a user, 0008 whenever one
changes who holds a permission. Each connection
LISTENs on it from the moment it is opened and keeps its own small cache
(`auth_cache()`), which starts empty and is emptied whenever a notification
has arrived, so a cached entry never outlives a committed change by more than
the notification's delivery (bench/README.md, "Revocation").

The cache is a listener of carts.database.notifications, registered when
the app is ready (carts.apps): the backend tells it of every new connection
and hands it the channel's notifications; carts.auth.authentication reads
through `auth_cache(thread_connection())`.
"""

import ipaddress
import logging
import os
import socket
from collections import OrderedDict
from typing import Any
from weakref import WeakKeyDictionary

import psycopg2
from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

from ..database import notifications

AUTH_CHANNEL = "carts_auth_changed"
# The payload migration carts 0002 sends when it drops the triggers.
AUTH_CHANNEL_CLOSED = "closed"
# Migrations 0002 (tokens, users) and 0008 (who holds which permission).
AUTH_TRIGGERS = (
    "carts_token_changed",
    "carts_user_changed",
    "carts_user_permissions_changed",
    "carts_user_groups_changed",
    "carts_group_permissions_changed",
)
AUTH_CACHE_SIZE = 1024

logger = logging.getLogger(__name__)

# Bumped by invalidate_auth_caches(): every connection of this process then
# empties its cache before the next use. For changes not yet committed (a
# NOTIFY only leaves at commit), e.g. inside a test's transaction.
_generation = 0


def invalidate_auth_caches() -> None:
    global _generation
    _generation += 1


class LRUCache(OrderedDict[str, Any]):
    """At most AUTH_CACHE_SIZE entries, the least recently used go first."""

    def __init__(self) -> None:
        super().__init__()
        self.generation = _generation

    def get(self, key: str) -> Any:  # type: ignore[override]
        value = super().get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        if len(self) > AUTH_CACHE_SIZE:
            self.popitem(last=False)


def reaches_server_directly(
    connection: psycopg2.extensions.connection,
    server_host: str | None,
    server_port: int | None,
) -> bool:
    """Whether the socket's far end is the server backend's own address.

    Behind a pooler (PgBouncer) or any other proxy the backend sees the
    connection arrive elsewhere: a LISTEN would belong to a server connection
    other clients borrow, and the cache would miss revocations. So it is off,
    with a warning (DATABASE_TRANSACTION_POOLER=1 says so without the check).
    Address translation (a published port) looks the same: no cache, which is
    safe. A Unix socket at both ends counts as direct."""
    with socket.socket(fileno=os.dup(connection.fileno())) as sock:
        peer = sock.getpeername() if sock.family != socket.AF_UNIX else None
    if peer is None or server_host is None:
        direct = peer is None and server_host is None
    else:
        direct = (_address(peer[0]), peer[1]) == (_address(server_host), server_port)
    global _proxy_reported
    if not direct and not _proxy_reported:
        _proxy_reported = True
        logger.warning(
            "Token cache off: the database connection ends at %s, the server "
            "listens at %s:%s (a pooler or proxy in between). Set "
            "DATABASE_TRANSACTION_POOLER=1 for PgBouncer in transaction mode.",
            peer,
            server_host,
            server_port,
        )
    return direct


_proxy_reported = False


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text)
    return getattr(address, "ipv4_mapped", None) or address


# Each connection's cache: None when it cannot be trusted (no triggers, a
# pooler in between, switched off); a new connection's replaces the old one's.
_caches: WeakKeyDictionary[BaseDatabaseWrapper, LRUCache | None] = WeakKeyDictionary()


class TokenCacheListener:
    """The cache's side of the connection: set up when it opens, emptied by
    the channel's notifications."""

    channel = AUTH_CHANNEL

    def connected(self, wrapper: BaseDatabaseWrapper, cursor: Any) -> bool:
        # A new connection has missed every notification sent before its
        # LISTEN, so it starts with an empty cache; none at all when the
        # triggers are missing (migrations not applied yet) or when switched off.
        _caches[wrapper] = None
        if not settings.CART_TOKEN_CACHE:
            return False
        cursor.execute(
            "SELECT count(*), host(inet_server_addr()), inet_server_port() "
            "FROM pg_trigger "
            "WHERE tgname IN %s AND tgenabled IN ('O', 'A') AND NOT tgisinternal",
            [AUTH_TRIGGERS],
        )
        triggers, server_host, server_port = cursor.fetchone()
        usable = triggers == len(AUTH_TRIGGERS) and reaches_server_directly(
            wrapper.connection, server_host, server_port
        )
        _caches[wrapper] = LRUCache() if usable else None
        return usable

    def notified(self, wrapper: BaseDatabaseWrapper, payloads: list[str]) -> None:
        cache = _caches.get(wrapper)
        if cache is not None:
            cache.clear()
            if AUTH_CHANNEL_CLOSED in payloads:
                _caches[wrapper] = None


def auth_cache(wrapper: BaseDatabaseWrapper) -> LRUCache | None:
    """The cache of `wrapper`, this thread's connection (carts.database.
    thread_connection(); django.db's proxy has none), emptied of anything a
    notification received so far may have changed; None when it cannot be
    trusted: no triggers, a connection in doubt, inside a transaction
    (notifications wait for its end), or a database other than PostgreSQL.
    Connects first, as a query would, so that what the caller reads next may
    go into the cache."""
    if wrapper.vendor != "postgresql" or wrapper.in_atomic_block:
        return None
    wrapper.close_if_health_check_failed()
    wrapper.ensure_connection()
    if _caches.get(wrapper) is None or not notifications.drain(wrapper):
        return None
    cache = _caches.get(wrapper)  # None if the triggers went away
    if cache is not None and cache.generation != _generation:
        cache.clear()
        cache.generation = _generation
    return cache
