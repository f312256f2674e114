"""The probes an orchestrator sends: liveness and readiness."""

from django.conf import settings
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from ..database.guard import database_call
from ..database.readiness import database_ready
from . import schemas
from .base import CartAPIView
from .errors import ServiceUnavailable


class ProbeView(CartAPIView):
    """A probe, sent by the orchestrator: anyone, never throttled."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []


class HealthView(ProbeView):
    """Liveness: the process serves requests. Touches no database."""

    @schemas.HEALTHZ
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadyView(ProbeView):
    """Readiness: the database answers and all migrations are applied."""

    @schemas.READYZ
    def get(self, request: Request) -> Response:
        # A stalled database is a 503 within about a second, so that a load
        # balancer takes the instance out of rotation.
        with database_call(timeout=settings.DATABASE_READY_TIMEOUT):
            ready = database_ready()
        if not ready:
            raise ServiceUnavailable()
        return Response({"status": "ok"})
