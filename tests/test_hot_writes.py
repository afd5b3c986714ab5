"""The write fast path (app/products/hot_writes.py) answers exactly as the FastAPI routes.

Every request goes to the app as it runs and to the same app without the fast path, on the
same real primary + replica; status, headers and body must match once the values that differ
between any two writes (id, timestamps, token) are set aside. Updates go to two products
created alike, one per side, so their versions move in step. A second test pins which
requests the fast path takes, so the comparison cannot pass by both sides being FastAPI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.localcluster import Cluster
from app.products import service
from app.products.hot_writes import HotWritesMiddleware, parse_body, recognise
from tests.support import bearer, with_and_without
from tests.test_products_api import MAC

# Headers that differ between any two writes, whoever serves them.
PER_REQUEST = {"x-request-id", "date", "location", "x-consistency-token", "content-length"}
PER_ROW = ("id", "created_at", "updated_at")
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def both(settings: Settings, clean_db: Cluster) -> Iterator[tuple[TestClient, TestClient]]:
    with with_and_without(settings, HotWritesMiddleware) as clients:
        yield clients


def _seen(response: Any) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in PER_REQUEST}
    body: Any = response.content
    if response.headers.get("content-type", "").startswith("application/"):
        body = response.json()
        if isinstance(body, dict) and response.status_code < 300:
            body = {k: v for k, v in body.items() if k not in PER_ROW}
    return response.status_code, headers, body


def _with_attribute(number: bytes) -> bytes:
    """A coins product whose `year` is this JSON number, written as it is."""
    return (
        b'{"category": "coins", "name": "x", "price": 1, "attributes": {"year": ' + number + b"}}"
    )


def _requests(settings: Settings) -> list[tuple[str, bytes | str, dict[str, str], bool]]:
    """(name, body, headers, served by the fast path)."""
    writer = {**JSON, **bearer(settings, "products:write")}
    reader = {**JSON, **bearer(settings, "products:read")}
    body = orjson.dumps(MAC)
    other = orjson.dumps({**MAC, "name": "another"})
    bad_attributes = orjson.dumps({**MAC, "attributes": {"chip": 7}})
    missing = orjson.dumps({k: v for k, v in MAC.items() if k != "price"})
    extra = orjson.dumps({**MAC, "colour": "red"})
    as_text = orjson.dumps({**MAC, "price": "1299.50"})
    return [
        ("valid", body, writer, True),
        ("charset", body, {**writer, "Content-Type": "application/json; charset=utf-8"}, True),
        ("keyed", body, {**writer, "Idempotency-Key": "k-1"}, True),
        ("replayed", body, {**writer, "Idempotency-Key": "k-1"}, True),
        ("key reused", other, {**writer, "Idempotency-Key": "k-1"}, True),
        ("no token", body, JSON, True),
        ("bad token", body, {**JSON, "Authorization": "Bearer nope"}, True),
        ("no scope", body, reader, True),
        ("bad attributes", bad_attributes, writer, True),
        ("price as text", as_text, writer, True),
        ("missing field", missing, writer, False),
        ("extra field", extra, writer, False),
        ("malformed", b'{"category": "mac",', writer, False),
        ("NaN", body.replace(b"1999.99", b"NaN"), writer, False),
        ("beyond 64 bits", _with_attribute(b"18446744073709551616"), writer, False),
        ("below -2**63", _with_attribute(b"-9223372036854775809"), writer, False),
        ("empty", b"", writer, False),
        ("text/plain", body, {**writer, "Content-Type": "text/plain"}, False),
        ("bad key", body, {**writer, "Idempotency-Key": "has space"}, False),
        ("long key", body, {**writer, "Idempotency-Key": "k" * 256}, False),
    ]


def _keyed(headers: dict[str, str], side: str) -> dict[str, str]:
    """Each side its own keys: both write to the same database."""
    key = headers.get("Idempotency-Key")
    if key is None or " " in key or len(key) > 255:
        return headers
    return {**headers, "Idempotency-Key": f"{key}-{side}"}


def _as_if(response: Any, ours: str, theirs: str) -> Any:
    """A response naming each side's own key, read as if it named the other's."""
    response._content = response.content.replace(ours.encode(), theirs.encode())
    return response


def test_creates_answer_as_the_route_does(
    both: tuple[TestClient, TestClient], settings: Settings
) -> None:
    hot, fastapi = both
    for name, body, headers, _ in _requests(settings):
        ours = hot.post("/api/products", content=body, headers=_keyed(headers, "hot"))
        theirs = fastapi.post("/api/products", content=body, headers=_keyed(headers, "api"))
        assert _seen(ours) == _seen(_as_if(theirs, "-api", "-hot")), name
        assert ours.status_code < 500, name
    query = hot.post("/api/products?x=1", content=orjson.dumps(MAC), headers=_keyed({}, "hot"))
    assert (
        query.status_code
        == fastapi.post("/api/products?x=1", content=orjson.dumps(MAC)).status_code
    )


MISSING = "999999999"


def _updates(settings: Settings) -> list[tuple[str, str | None, bytes, dict[str, str], bool]]:
    """(name, product id or None for the side's own product, body, headers, served by the
    fast path), in the order they are sent: versions and prices depend on it."""
    writer = {**JSON, **bearer(settings, "products:write")}
    reader = {**JSON, **bearer(settings, "products:read")}
    price = orjson.dumps({"price": 10})
    return [
        ("price", None, price, writer, True),
        ("no-op", None, price, writer, True),
        ("attributes merged", None, b'{"attributes": {"ram_gb": 32, "year": null}}', writer, True),
        ("url cleared", None, b'{"url": null}', writer, True),
        ("category changed, attributes refused", None, b'{"category": "coins"}', writer, True),
        ("bad attributes", None, b'{"attributes": {"chip": 7}}', writer, True),
        ("if-match any", None, price, {**writer, "If-Match": "*"}, True),
        ("if-match stale", None, b'{"price": 11}', {**writer, "If-Match": 'W/"1"'}, True),
        ("if-match garbage", None, price, {**writer, "If-Match": "garbage"}, True),
        ("keyed", None, b'{"price": 12}', {**writer, "Idempotency-Key": "u-1"}, True),
        ("replayed", None, b'{"price": 12}', {**writer, "Idempotency-Key": "u-1"}, True),
        ("key reused", None, b'{"price": 13}', {**writer, "Idempotency-Key": "u-1"}, True),
        ("no token", None, price, JSON, True),
        ("no scope", None, price, reader, True),
        ("not found", MISSING, price, writer, True),
        ("id zero", "0", price, writer, False),
        ("id with a zero", "01", price, writer, False),
        ("id not a number", "abc", price, writer, False),
        ("null name", None, b'{"name": null}', writer, False),
        ("unknown field", None, b'{"colour": "red"}', writer, False),
        ("malformed", None, b'{"price": ', writer, False),
        ("empty", None, b"", writer, False),
        ("text/plain", None, price, {**writer, "Content-Type": "text/plain"}, False),
        ("bad key", None, price, {**writer, "Idempotency-Key": "has space"}, False),
        (
            "two if-match",
            None,
            price,
            {**writer, "If-Match": "*"},  # sent twice below
            False,
        ),
    ]


def _patch(client: TestClient, path: str, body: bytes, headers: dict[str, str], name: str) -> Any:
    pairs = list(headers.items())
    if name == "two if-match":
        pairs.append(("If-Match", 'W/"1"'))
    return client.patch(path, content=body, headers=pairs)


def test_updates_answer_as_the_route_does(
    both: tuple[TestClient, TestClient], settings: Settings
) -> None:
    hot, fastapi = both
    writer = {**JSON, **bearer(settings, "products:write")}
    own = {
        side: client.post("/api/products", content=orjson.dumps(MAC), headers=writer).json()["id"]
        for side, client in (("hot", hot), ("api", fastapi))
    }
    for name, target, body, headers, _ in _updates(settings):
        ours = _patch(
            hot, f"/api/products/{target or own['hot']}", body, _keyed(headers, "hot"), name
        )
        theirs = _patch(
            fastapi, f"/api/products/{target or own['api']}", body, _keyed(headers, "api"), name
        )
        theirs = _as_if(theirs, "-api", "-hot")
        for named in ("/", "product "):  # the path and the detail name the side's product
            theirs = _as_if(theirs, f"{named}{own['api']}", f"{named}{own['hot']}")
        assert _seen(ours) == _seen(theirs), name
        assert ours.status_code < 500, name


def test_the_fast_path_takes_exactly_the_writes_it_should(settings: Settings) -> None:
    cases = [
        ("POST", "/api/products", name, body, headers, taken)
        for name, body, headers, taken in _requests(settings)
    ]
    cases += [
        ("PATCH", f"/api/products/{target or 7}", name, body, headers, taken)
        for name, target, body, headers, taken in _updates(settings)
    ]
    for method, path, name, body, headers, taken in cases:
        pairs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if name == "two if-match":
            pairs.append((b"if-match", b'W/"1"'))
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": b"",
            "headers": pairs,
        }
        raw = body.encode() if isinstance(body, str) else body
        recognised = recognise(scope)
        served = recognised is not None and parse_body(recognised[0], raw) is not None
        assert served == taken, f"{method} {name}"


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("a bug"), ConnectionResetError("reset by peer")],
    ids=["bug", "driver-error"],
)
def test_failures_are_rendered_as_the_route_renders_them(
    both: tuple[TestClient, TestClient],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    async def failing(*_: object) -> None:
        raise failure

    monkeypatch.setattr(service, "create_product", failing)
    hot, fastapi = both
    headers = {**JSON, **bearer(settings, "products:write")}
    ours = hot.post("/api/products", content=orjson.dumps(MAC), headers=headers)
    theirs = fastapi.post("/api/products", content=orjson.dumps(MAC), headers=headers)
    assert _seen(ours) == _seen(theirs)
    assert ours.status_code >= 500
