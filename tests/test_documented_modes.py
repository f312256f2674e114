"""What the docs say about answers outside the contract's main path, held to
the running code: Django's debug 404 under `make run`, the admin's index for
a staff account without admin permissions, the gRPC health Watch of an
unknown name, and the gRPC access log's line."""

import re

import grpc
import pytest
from grpc_health.v1 import health_pb2

from carts.grpc import cart_pb2
from devtools.liveservice import ROOT, GrpcServer

from .conftest import database_url_for_tests


@pytest.mark.parametrize("path", ["/no/such/thing", "/cart/a%2Fb", "/cart/a%00b"])
def test_with_debug_on_paths_that_match_no_route_get_djangos_html_404(
    client, db, settings, path
):
    settings.DEBUG = True  # as `make run` serves

    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/no/such/thing", "/cart/a%2Fb", "/cart/a%00b"])
def test_with_debug_off_paths_that_match_no_route_get_the_json_404(client, db, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_staff_without_admin_permissions_sees_the_admin_index_and_no_model(
    client, django_user_model
):
    operator = django_user_model.objects.create(username="operator", is_staff=True)
    client.force_login(operator)

    index = client.get("/admin/")
    carts = client.get("/admin/carts/cart/")

    assert index.status_code == 200
    assert "have permission to view or edit anything" in index.content.decode()
    assert carts.status_code == 403


@pytest.fixture
def grpc_server(transactional_db, tmp_path):
    with GrpcServer(database_url_for_tests(), tmp_path) as server:
        yield server


def test_health_watch_of_an_unknown_name_streams_service_unknown(grpc_server):
    request = health_pb2.HealthCheckRequest(service="hipstershop.Nope")
    stream = grpc_server.health.Watch(request, timeout=5)

    first = next(stream)
    stream.cancel()

    assert first.status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    with pytest.raises(grpc.RpcError) as raised:
        grpc_server.health_status("hipstershop.Nope")  # Check
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


ACCESS_LINE = re.compile(
    r'INFO carts\.grpc\.access request_id=- \S+ "/[\w.]+/\w+" [A-Z_]+ [\d.]+ms'
)


@pytest.mark.repository
def test_the_grpc_access_log_line_is_as_documented(grpc_server):
    docs = (ROOT / "docs" / "grpc.md").read_text()
    section = docs.split("## Access log", 1)[1].split("```", 2)[1]
    documented = section.strip().splitlines()

    grpc_server.cart.EmptyCart(cart_pb2.EmptyCartRequest(user_id="x"), timeout=5)
    written = [line for line in grpc_server.log().splitlines() if "EmptyCart" in line]

    assert len(documented) >= 2
    assert all(ACCESS_LINE.fullmatch(line) for line in documented), documented
    assert written and ACCESS_LINE.fullmatch(written[-1]), written
