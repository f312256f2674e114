"""DRF's content negotiation, with a shortcut for what nearly every client asks."""

from rest_framework.negotiation import DefaultContentNegotiation

# Accept headers whose answer is the first renderer when it is JSON: DRF
# parses the header and matches it against every renderer to find the same.
_JSON_OR_ANYTHING = {None, "*/*", "application/json"}


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            request.META.get("HTTP_ACCEPT") in _JSON_OR_ANYTHING
            and not format_suffix
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
            and renderers
            and renderers[0].media_type == "application/json"
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
