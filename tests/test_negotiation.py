"""The content negotiation's shortcut answers exactly as DRF's own."""

import pytest
from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from carts.api.negotiation import ContentNegotiation

ACCEPT = [
    None,
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/*",
    "text/html",
    "text/html,application/xhtml+xml,*/*;q=0.8",
    "image/png",
    "",
]
RENDERERS = [[JSONRenderer()], [JSONRenderer(), BrowsableAPIRenderer()]]


def outcome(negotiation, accept, renderers, query):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/cart/alice{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers)
    except (NotAcceptable, Http404) as error:
        return type(error)
    return type(renderer), media_type


@pytest.mark.parametrize("accept", ACCEPT)
@pytest.mark.parametrize("renderers", RENDERERS, ids=["json", "json+browsable"])
@pytest.mark.parametrize("query", ["", "?format=json", "?format=api", "?format=xml"])
def test_same_choice_as_drf(accept, renderers, query):
    ours = outcome(ContentNegotiation(), accept, renderers, query)

    assert ours == outcome(DefaultContentNegotiation(), accept, renderers, query)


def test_a_client_that_takes_no_json_gets_406(alice):
    response = alice.get("/cart/alice", HTTP_ACCEPT="text/html")

    assert response.status_code == 406
    assert response.json()["errors"][0]["code"] == "not_acceptable"
