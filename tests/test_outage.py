"""A database outage, for real: gunicorn on a PostgreSQL cluster of the test's
own, which the test stops and starts again under the running service."""

import pytest

from carts.demo import LOAFERS, MUG, SHAKERS
from devtools.liveservice import Gunicorn, prepare_database
from devtools.pgcluster import Cluster

pytestmark = pytest.mark.pg_server


ENDPOINTS = [
    ("POST", "/cart/demo", {"product_id": LOAFERS}),
    ("GET", "/cart/demo", None),
    ("DELETE", "/cart/demo", None),
    ("PUT", f"/cart/demo/items/{MUG}", {"quantity": 9}),
    ("DELETE", f"/cart/demo/items/{MUG}", None),
    ("GET", "/products", None),
    ("GET", f"/products/{LOAFERS}", None),
]


@pytest.fixture
def cluster():
    with Cluster() as cluster:
        yield cluster


def test_database_outage_is_a_fast_503_and_the_service_recovers_by_itself(
    cluster, tmp_path
):
    tokens = prepare_database(cluster.url)
    with Gunicorn(cluster.url, tmp_path, workers=2) as server:
        token = tokens["demo"]
        for product_id, quantity in [(LOAFERS, 2), (MUG, 1), (SHAKERS, 5)]:
            added = server.request(
                "POST",
                "/cart/demo",
                token=token,
                body={"product_id": product_id, "quantity": quantity},
            )
            assert added.status == 201
        # Every worker now holds a persistent connection to the database.
        before = [server.request("GET", "/cart/demo", token=token) for _ in range(6)]
        workers = server.worker_pids()

        cluster.stop()

        for _ in range(2):  # twice, so that each worker is asked
            for method, path, body in ENDPOINTS:
                answer = server.request(method, path, token=token, body=body)
                assert answer.status == 503, (method, path, answer)
                assert answer.body == {
                    "type": "server_error",
                    "errors": [
                        {
                            "code": "service_unavailable",
                            "detail": "The database is unavailable; try again shortly.",
                            "attr": None,
                        }
                    ],
                }
                assert answer.seconds < 5, (method, path)
        assert server.request("GET", "/readyz").status == 503
        assert server.request("GET", "/healthz").status == 200

        cluster.start()

        recovery = server.wait_until(
            lambda: server.request("GET", "/cart/demo", token=token).status == 200,
            timeout=15,
        )
        after = [server.request("GET", "/cart/demo", token=token) for _ in range(6)]
        assert recovery < 5
        assert [answer.status for answer in after] == [200] * 6
        assert after[0].body == before[0].body
        assert [line["quantity"] for line in after[0].body["items"]] == [2, 1, 5]
        assert server.request("GET", "/readyz").status == 200
        assert server.worker_pids() == workers  # recovered without a restart
    assert "Traceback" not in server.log()
