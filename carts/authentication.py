"""DRF's token authentication, with the lookup as one precompiled query."""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from . import sql
from .models import User


class TokenAuthentication(authentication.TokenAuthentication):
    """The same check as DRF's, on every request (so a deleted token or an
    inactive user is refused at once), minus building an ORM query each time:
    compiling `Token.objects.select_related("user").get(key=...)` cost more
    CPU than the rest of the token check together (bench/README.md)."""

    def authenticate_credentials(self, key):
        users = list(User.objects.raw(sql.TOKEN_USER_SQL, {"key": key}))
        if not users:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = users[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, Token(key=key, user=user)
