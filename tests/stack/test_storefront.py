"""The reference storefront through the compose stack's nginx (docs/storefront.md):
the address redirects (a replica answers), the files come from nginx."""

import pytest

from .stack import call

pytestmark = pytest.mark.stack


def test_the_storefront_is_served_through_nginx():
    redirect = call("web", "GET", "/storefront/?api=http://127.0.0.1:8001")
    files = {
        name: call("web", "GET", f"/static/storefront/{name}")
        for name in ("index.html", "storefront.js", "storefront.css")
    }

    assert redirect.status == 302
    assert redirect.headers["Location"] == (
        "/static/storefront/index.html?api=http://127.0.0.1:8001"
    )
    assert {name: answer.status for name, answer in files.items()} == dict.fromkeys(
        files, 200
    )
    assert '<script src="storefront.js" defer></script>' in files["index.html"].body
    assert "async function addToCart" in files["storefront.js"].body
    # nginx's own static files (its `expires 1d`), not a replica's WhiteNoise.
    assert files["storefront.css"].headers["Cache-Control"] == "max-age=86400"
