"""What the server sends on an idle connection: notifications for the channels
the service LISTENs on, and the health check that reads them.

A feature that wants to hear of changes (the token cache, carts.auth) registers
a `Listener` when the app is ready (carts.apps). When a connection opens, each
listener says whether to LISTEN on its channel (`listen`); before a request
uses an idle connection, `drain` reads what arrived, hands each listener its
channel's payloads, and says whether the connection is still sound.

Health check: Django's (CONN_HEALTH_CHECKS) sends `SELECT 1` before the first
query of every request on a persistent connection: a whole round trip to the
server, per request, on the hot path. `drain` first asks the kernel whether
the idle connection's socket has anything to read. A healthy idle connection
has nothing to read, or only notifications, which are consumed; when the
server restarts or ends the backend, it sends a FATAL message or closes the
socket, which leaves it readable, and then Django's own `SELECT 1` decides. A
peer that vanished without closing the socket is found by the next query's
deadline, or before that by TCP keepalives, which leave the socket readable
too.
"""

import select
from typing import Any, Protocol

import psycopg2


class Listener(Protocol):
    channel: str

    def connected(self, wrapper: Any, cursor: Any) -> bool:
        """A connection opened (its cursor at hand): set up for it, and
        say whether to LISTEN on the channel."""

    def notified(self, wrapper: Any, payloads: list[str]) -> None:
        """Notifications on the channel arrived on `wrapper`'s connection."""


_listeners: dict[str, Listener] = {}


def register(listener: Listener) -> None:
    _listeners[listener.channel] = listener


def listen(wrapper: Any) -> None:
    """LISTEN on the channels whose listeners want this new connection."""
    if not _listeners:
        return
    with wrapper.connection.cursor() as cursor:
        for listener in _listeners.values():
            if listener.connected(wrapper, cursor):
                cursor.execute(f"LISTEN {listener.channel}")
    if not wrapper.get_autocommit():
        wrapper.connection.commit()


def drain(wrapper: Any) -> bool:
    """Read what the server sent on the idle connection and hand the
    notifications to their listeners; False if anything else arrived (an
    error, the end of the connection)."""
    connection = wrapper.connection
    try:
        if connection is None or connection.closed:
            return False
        if _socket_is_quiet(connection):
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
                and _socket_is_quiet(connection)
            )
    except psycopg2.Error:
        return False
    if connection.notifies:
        payloads: dict[str, list[str]] = {}
        for notify in connection.notifies:
            payloads.setdefault(notify.channel, []).append(notify.payload)
        connection.notifies.clear()
        for channel, channel_payloads in payloads.items():
            if channel in _listeners:
                _listeners[channel].notified(wrapper, channel_payloads)
    return quiet


def _socket_is_quiet(connection: psycopg2.extensions.connection) -> bool:
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN)
    return not poller.poll(0)
