"""A per-connection cache of token lookups that PostgreSQL empties on every change.

Migration carts 0002 adds triggers that NOTIFY AUTH_CHANNEL whenever a
statement updates, deletes or truncates a token or a user. Each connection
LISTENs on it from the moment it is opened and keeps its own small cache
(`auth_cache()`), which starts empty and is emptied whenever a notification
has arrived, so a cached entry never outlives a committed change by more than
the notification's delivery (bench/README.md, "Revocation").

The database backend (cartproject.postgresql) mixes TokenCacheConnection into
its connection class; carts.auth.authentication reads through `auth_cache()`.
"""

import ipaddress
import logging
import os
import select
import socket
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import psycopg2
from django.conf import settings

if TYPE_CHECKING:
    # What the mixin is mixed into, for the type checker only.
    from django.db.backends.postgresql.base import DatabaseWrapper as _Connection
else:
    _Connection = object

AUTH_CHANNEL = "carts_auth_changed"
# The payload migration carts 0002 sends when it drops the triggers.
AUTH_CHANNEL_CLOSED = "closed"
AUTH_TRIGGERS = ("carts_token_changed", "carts_user_changed")
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


class TokenCacheConnection(_Connection):
    """The cache's half of a PostgreSQL DatabaseWrapper (a mixin)."""

    _auth_cache: LRUCache | None = None

    def init_connection_state(self) -> None:
        super().init_connection_state()
        # A new connection has missed every notification sent before its
        # LISTEN, so it starts with an empty cache; none at all when the
        # triggers are missing (migrations not applied yet) or when switched off.
        self._auth_cache = None
        if not settings.CART_TOKEN_CACHE:
            return
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), host(inet_server_addr()), inet_server_port() "
                "FROM pg_trigger "
                "WHERE tgname IN %s AND tgenabled IN ('O', 'A') AND NOT tgisinternal",
                [AUTH_TRIGGERS],
            )
            triggers, server_host, server_port = cursor.fetchone()
            usable = triggers == len(AUTH_TRIGGERS) and reaches_server_directly(
                self.connection, server_host, server_port
            )
            if usable:
                cursor.execute(f"LISTEN {AUTH_CHANNEL}")
        if not self.get_autocommit():
            self.connection.commit()
        self._auth_cache = LRUCache() if usable else None

    def _close(self) -> None:
        self._auth_cache = None
        super()._close()  # type: ignore[misc]  # Django's, undeclared in the stubs

    def auth_cache(self) -> LRUCache | None:
        """This connection's cache, emptied of anything a notification received
        so far may have changed; None when it cannot be trusted: no triggers,
        a connection in doubt, or inside a transaction (notifications wait
        for its end). Connects first, as a query would, so that what the
        caller reads next may go into the cache."""
        if self.in_atomic_block:
            return None
        self.close_if_health_check_failed()
        self.ensure_connection()
        cache = self._auth_cache
        if cache is None or not self.drain():
            return None
        if cache.generation != _generation:
            cache.clear()
            cache.generation = _generation
        return self._auth_cache  # None if the triggers went away

    def drain(self) -> bool:
        """Read what the server sent on the idle connection; False if there is
        anything else than notifications (an error, the end of the connection)."""
        connection = self.connection
        try:
            if connection is None or connection.closed:
                return False
            if self._socket_is_quiet():
                quiet = True
            else:
                # Moves notifications to connection.notifies, and a message
                # such as the server's FATAL goodbye to connection.notices.
                notices = connection.notices
                count, last = len(notices), notices[-1] if notices else None
                connection.poll()
                quiet = (
                    len(notices) == count
                    and (notices[-1] if notices else None) is last
                    and self._socket_is_quiet()
                )
        except psycopg2.Error:
            return False
        if connection.notifies:
            closed = any(n.payload == AUTH_CHANNEL_CLOSED for n in connection.notifies)
            connection.notifies.clear()
            if self._auth_cache is not None:
                self._auth_cache.clear()
                if closed:
                    self._auth_cache = None
        return quiet

    def _socket_is_quiet(self) -> bool:
        poller = select.poll()
        poller.register(self.connection.fileno(), select.POLLIN)
        return not poller.poll(0)
