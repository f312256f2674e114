"""DRF's token authentication, as one precompiled query, cached per connection
where the database announces every change (carts.auth.token_cache)."""

from typing import Any

from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from prometheus_client import Counter
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token
from rest_framework.request import Request

from ..cart.owners import owner_pk_met
from ..database import thread_connection
from ..models import User
from .powers import MAY_ACT_ON_ANY_CART_SQL, remember
from .token_cache import auth_cache, invalidate_auth_caches

TOKEN_CACHE_LOOKUPS = Counter(
    "cart_token_cache_lookups",
    "Token checks, by where the answer came from: the connection's cache "
    "(hit), the database with a cache (miss), the database without one (off).",
    ["result"],
)

# The user a token belongs to, every concrete field of the user in order,
# then whether the user may act on any cart.
_TOKEN_USER_SQL = """
    SELECT {columns}, {may_act_on_any_cart}
    FROM authtoken_token t JOIN carts_user u ON u.id = t.user_id
    WHERE t.key = %(key)s
""".format(
    columns=", ".join(f"u.{field.column}" for field in User._meta.concrete_fields),
    may_act_on_any_cart=MAY_ACT_ON_ANY_CART_SQL,
)


class _AuthorizationHeader:
    """What DRF's `get_authorization_header` reads, from `request.META`:
    DRF asks `request.headers`, which copies every header of the request into
    a new dict first, for this one value (the same string either way)."""

    def __init__(self, request: HttpRequest) -> None:
        self.headers = {"authorization": request.META.get("HTTP_AUTHORIZATION", b"")}


class TokenAuthentication(authentication.TokenAuthentication):
    """The same check as DRF's on every request: a deleted token or an inactive
    user is refused. The user's row comes from the connection's cache when it
    has one (PostgreSQL, outside transactions), which every committed change
    to a token or a user empties; otherwise from one fixed query, since
    compiling `Token.objects.select_related("user").get(key=...)` cost more
    CPU than the rest of the token check together (bench/README.md)."""

    def authenticate(self, request: Request) -> tuple[User, Token] | None:
        return super().authenticate(_AuthorizationHeader(request))  # type: ignore[arg-type]

    def authenticate_credentials(self, key: str) -> tuple[User, Token]:
        connection = thread_connection()
        cache = auth_cache(connection)
        row = cache.get(key) if cache is not None else None
        TOKEN_CACHE_LOOKUPS.labels(
            "off" if cache is None else "miss" if row is None else "hit"
        ).inc()
        if row is None:
            with connection.cursor() as cursor:
                cursor.execute(_TOKEN_USER_SQL, {"key": key})
                row = cursor.fetchone()
            if row is None:
                raise exceptions.AuthenticationFailed(_("Invalid token."))
            if cache is not None:
                cache.put(key, row)
        # A new instance each time: a request may change its user.
        # No field names: the row holds every concrete field, in order.
        user = User.from_db(connection.alias, None, row[:-1])  # type: ignore[arg-type]
        remember(user, row[-1])
        # The cart statements take the owner's pk: the caller's own cart's is
        # known now, without a lookup (carts.cart.owners).
        owner_pk_met(user.username, user.pk)
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, Token(key=key, user=user)


def _changed(**kwargs: Any) -> None:
    invalidate_auth_caches()


# In this process at once, before the change commits (the NOTIFY waits for it).
for _model in (Token, User):
    post_save.connect(_changed, sender=_model, dispatch_uid=f"auth-cache-{_model}")
    post_delete.connect(_changed, sender=_model, dispatch_uid=f"auth-del-{_model}")
# Who holds carts.manage_any_cart (carts.auth.powers).
for _through in (
    User.user_permissions.through,
    User.groups.through,
    Group.permissions.through,
):
    m2m_changed.connect(_changed, sender=_through, dispatch_uid=f"auth-m2m-{_through}")
