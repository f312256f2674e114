from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from ..auth.powers import may_act_on_any_cart, may_read_events


class IsCartOwnerOrStaff(BasePermission):
    """The cart's owner (username equal to the URL's user_id) or a user who may
    act on any cart (carts.auth.powers)."""

    message = "You may only access your own cart."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return user.username == view.kwargs["user_id"] or may_act_on_any_cart(user)


class IsStaff(BasePermission):
    """A user who may act on any cart (carts.auth.powers): `is_staff` alone
    only opens the admin."""

    message = "Only staff may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return may_act_on_any_cart(request.user)


class MayReadEvents(BasePermission):
    """The API's staff, or a user given carts.read_cart_events."""

    message = "Only staff or an event reader may follow the event feed."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return may_read_events(request.user)
