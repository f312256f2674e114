from rest_framework.permissions import BasePermission


class IsCartOwnerOrStaff(BasePermission):
    """The cart's owner (username equal to the URL's user_id) or any staff user."""

    message = "You may only access your own cart."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return user.is_staff or user.username == view.kwargs["user_id"]
