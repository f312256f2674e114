from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


class IsCartOwnerOrStaff(BasePermission):
    """The cart's owner (username equal to the URL's user_id) or any staff user."""

    message = "You may only access your own cart."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user.is_staff or user.username == view.kwargs["user_id"])
