"""DRF's content negotiation, with a shortcut for what nearly every client asks."""

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# Accept headers whose answer is the first renderer when it is JSON: DRF
# parses the header and matches it against every renderer to find the same.
_JSON_OR_ANYTHING = {None, "*/*", "application/json"}


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        first = next(iter(renderers), None)
        if (
            request.META.get("HTTP_ACCEPT") in _JSON_OR_ANYTHING
            and not format_suffix
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
            and first is not None
            and first.media_type == "application/json"
        ):
            return first, first.media_type
        chosen: tuple[BaseRenderer, str] = super().select_renderer(
            request, renderers, format_suffix
        )
        return chosen
