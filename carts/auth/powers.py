"""Who may act on any cart: the one answer every interface asks.

The API's staff powers (any cart, creating users, merging by user id, the
staff rate) belong to users holding the permission `carts.manage_any_cart`:
given directly, through a group, or as a superuser. `is_staff` alone only
opens the admin. gRPC callers are trusted by the network instead (docs/grpc.md).
"""

from typing import Any

from django.contrib.auth.models import Permission

from ..models import User

MANAGE_ANY_CART = "carts.manage_any_cart"
READ_CART_EVENTS = "carts.read_cart_events"
_APP_LABEL, _CODENAME = MANAGE_ANY_CART.split(".")

# The same answer as a column of a query on carts_user `u`: token
# authentication reads it with the user's row (carts.auth.authentication).
_user_permissions = User.user_permissions.through._meta.db_table
_user_groups = User.groups.through._meta.db_table
MAY_ACT_ON_ANY_CART_SQL = f"""
    u.is_superuser OR EXISTS (
        SELECT 1 FROM auth_permission p
        JOIN django_content_type c ON c.id = p.content_type_id
        WHERE c.app_label = '{_APP_LABEL}' AND p.codename = '{_CODENAME}'
          AND (p.id IN (SELECT permission_id FROM {_user_permissions}
                        WHERE user_id = u.id)
               OR p.id IN (SELECT gp.permission_id FROM auth_group_permissions gp
                           JOIN {_user_groups} ug ON ug.group_id = gp.group_id
                           WHERE ug.user_id = u.id)))
"""

_KNOWN = "_may_act_on_any_cart"


def manage_any_cart_permission() -> Permission:
    """The permission, to grant (carts 0008 creates it)."""
    return Permission.objects.get(
        content_type__app_label=_APP_LABEL, codename=_CODENAME
    )


def may_act_on_any_cart(user: Any) -> bool:
    """Whether `user` (None: anonymous) may act on any cart."""
    if user is None:
        return False
    known = getattr(user, _KNOWN, None)
    if known is None:
        known = bool(user.is_active and user.has_perm(MANAGE_ANY_CART))
        remember(user, known)
    return bool(known)


def remember(user: User, may: bool) -> None:
    """Record the answer a query already gave for this request's user."""
    setattr(user, _KNOWN, may)


def may_read_events(user: Any) -> bool:
    """Whether `user` may follow the event feed: the API's staff, or a
    service account given READ_CART_EVENTS alone."""
    return may_act_on_any_cart(user) or bool(
        user is not None and user.is_active and user.has_perm(READ_CART_EVENTS)
    )
