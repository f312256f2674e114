"""Cart ETags and the conditional headers that name them (API.md v2,
"Versions and conditional requests").

A cart's ETag is `"<version>-<tag>"`: the cart's version, which every change
of what GET shows bumps, and a tag that names the cart without showing its id,
a keyed hash (BLAKE2b, key from SECRET_KEY) of the user id and the currency,
the two other things GET shows. So two users' carts at one version differ,
the tag tells nothing to someone without the key, and the version can be read
back from an If-Match for the database to check.
"""

import hashlib
import re
from functools import lru_cache

from django.conf import settings
from django.utils.cache import parse_etags  # type: ignore[attr-defined]  # not in the stubs
from rest_framework.request import Request

_CART_ETAG = re.compile(r'\A"(\d{1,19})-([0-9a-f]{16})"\Z')
_MAX_VERSION = 2**63 - 1  # PostgreSQL's bigint


class AnyVersion:
    """`*`: any current version."""


ANY_VERSION = AnyVersion()


@lru_cache(maxsize=4)
def _tag_key(secret: str) -> bytes:
    return hashlib.sha256(b"carts.cart-etag\0" + secret.encode()).digest()


def entity_tag(*, secret: str, currency: str, username: str, version: int) -> str:
    """The ETag of `username`'s cart at `version` (no Django: the benchmark's
    floor computes the same)."""
    tag = hashlib.blake2b(
        f"{currency}\0{username}".encode(),
        key=_tag_key(secret),
        digest_size=8,
    ).hexdigest()
    return f'"{version}-{tag}"'


def cart_etag(username: str, version: int) -> str:
    return entity_tag(
        secret=settings.SECRET_KEY,
        currency=settings.CART_CURRENCY,
        username=username,
        version=version,
    )


def _versions(header: str, username: str, *, weak: bool) -> frozenset[int]:
    """The versions of this cart among the header's entity tags; tags of
    other carts, of other formats, or weak ones when `weak` is False (If-Match
    compares strongly) name none."""
    versions = set()
    for etag in parse_etags(header):
        if etag.startswith("W/"):
            if not weak:
                continue
            etag = etag[2:]
        match = _CART_ETAG.match(etag)
        if match and int(match[1]) <= _MAX_VERSION:
            version = int(match[1])
            if cart_etag(username, version) == etag:
                versions.add(version)
    return frozenset(versions)


def if_match(request: Request, username: str) -> frozenset[int] | None:
    """The versions of the cart that If-Match accepts; None when the request
    sets no condition: no If-Match, or `*` (every id has a cart, if only an
    empty one, so `*` always matches one). A header naming no version of this
    cart accepts none: the write answers 412."""
    header = request.META.get("HTTP_IF_MATCH")
    if header is None or header.strip() == "*":
        return None
    return _versions(header, username, weak=False)


def if_none_match(
    request: Request, username: str
) -> frozenset[int] | AnyVersion | None:
    """The versions the client holds (weak comparison), ANY_VERSION for `*`,
    None without If-None-Match."""
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if header is None:
        return None
    if header.strip() == "*":
        return ANY_VERSION
    return _versions(header, username, weak=True)
