import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cartproject.settings")

from cartproject import tracing
from cartproject.lean import RoutingHandler

# Before the handlers load MIDDLEWARE: tracing adds its own in front.
tracing.configure()
application = RoutingHandler(get_wsgi_application())

# Refuse to serve with an insecure configuration (DEBUG off and no key, so
# settings left SECRET_KEY empty): now, not at the first signed cookie.
try:
    settings.SECRET_KEY  # noqa: B018 - Django raises when it is empty
except ImproperlyConfigured as error:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off."
    ) from error
