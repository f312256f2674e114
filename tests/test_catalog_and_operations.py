from rest_framework.test import APIClient

from carts.models import Product

from .conftest import error_codes


def test_product_list_shows_active_products_with_prices(catalog):
    Product.objects.filter(pk="6E92ZMYYFZ").update(active=False)

    response = APIClient().get("/products")

    assert response.status_code == 200
    products = response.json()
    assert len(products) == 8
    assert {
        "id": "L9ECAV7KIM",
        "name": "Loafers",
        "price": "89.99",
        "currency": "USD",
    } in products
    assert "6E92ZMYYFZ" not in [p["id"] for p in products]


def test_product_detail(catalog):
    response = APIClient().get("/products/LS4PSXUNUM/")

    assert response.status_code == 200
    assert response.json() == {
        "id": "LS4PSXUNUM",
        "name": "Salt & Pepper Shakers",
        "price": "18.49",
        "currency": "USD",
    }


def test_answers_are_compact_utf8_json_with_no_character_escaped(db):
    # docs/API.md, "Conventions": U+2028 and U+2029 too, as orjson writes them.
    Product.objects.create(id="P1", name="Café\u2028Crème\u2029", price="1.50")

    response = APIClient().get("/products/P1")

    assert response["Content-Type"] == "application/json"
    assert (
        response.content
        == (
            '{"id":"P1","name":"Café\u2028Crème\u2029","price":"1.50","currency":"USD"}'
        ).encode()
    )


def test_unknown_or_inactive_product_detail_is_404(catalog):
    Product.objects.filter(pk="6E92ZMYYFZ").update(active=False)

    for product_id in ["NOPE", "6E92ZMYYFZ"]:
        response = APIClient().get(f"/products/{product_id}")
        assert response.status_code == 404
        assert error_codes(response) == ["product_not_found"]


def test_catalog_fixture_holds_the_nine_demo_products(catalog):
    prices = dict(Product.objects.values_list("id", "price"))

    assert len(prices) == 9
    assert str(prices["1YMWWN1N4O"]) == "109.99"
    assert str(prices["9SIQT8TOJO"]) == "5.49"


def test_healthz_answers_without_the_database(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = APIClient().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_when_database_is_migrated(db):
    response = APIClient().get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_503_when_a_migration_is_not_applied(db, monkeypatch):
    from django.db.migrations.recorder import MigrationRecorder

    from carts.database import readiness

    monkeypatch.setattr(readiness, "_migrations_applied", False)
    MigrationRecorder.Migration.objects.filter(app="carts").delete()

    response = APIClient(raise_request_exception=False).get("/readyz")

    assert response.status_code == 503
    assert response.json()["type"] == "server_error"
    assert error_codes(response) == ["service_unavailable"]


def test_openapi_schema_documents_every_endpoint(db):
    response = APIClient().get(
        "/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/cart/{user_id}",
        "/cart/{user_id}/items/{product_id}",
        "/cart/{user_id}/merge",
        "/cart/{user_id}/reprice",
        "/cart/{user_id}/checkout",
        "/cart/{user_id}/checkout/{checkout_id}/complete",
        "/cart/{user_id}/checkout/{checkout_id}/cancel",
        "/checkouts/{checkout_id}",
        "/guests",
        "/products",
        "/products/{product_id}",
        "/events",
        "/healthz",
        "/readyz",
    }
    assert set(schema["paths"]["/cart/{user_id}"]) >= {"get", "post", "delete"}
    assert set(schema["paths"]["/cart/{user_id}/items/{product_id}"]) >= {
        "put",
        "delete",
    }


def test_swagger_ui_is_served(db):
    response = APIClient().get("/api/docs")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_unknown_path_is_a_json_404(db):
    response = APIClient().get("/no/such/thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_codes(response) == ["not_found"]
