"""What a careless client sends, answered plainly: unreadable bodies, unknown parameters on
every route (fast path included), HEAD and OPTIONS, and a bounded list of field problems."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.test_api_errors import VALID, assert_problem

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"name": "\xff\xfe"}', "not valid UTF-8"),
        (b'{"name": ' + b"9" * 5000 + b"}", "too many digits"),
        (b'{"name": ', "JSON decode error"),
    ],
    ids=["deep-nesting", "invalid-utf8", "5000-digit-integer", "truncated"],
)
def test_an_unreadable_body_is_a_malformed_json_problem(
    client: TestClient, auth: dict[str, str], body: bytes, detail: str
) -> None:
    response = client.post("/api/products", content=body, headers={**auth, **JSON})
    problem = assert_problem(response, 400)
    assert problem["type"] == "/problems/malformed-json"
    assert detail in (problem["detail"] + str(problem.get("errors"))), problem


def test_a_streamed_body_over_the_limit_is_payload_too_large(
    client: TestClient, auth: dict[str, str]
) -> None:
    chunks = (b"x" * 65536 for _ in range(20))  # no Content-Length: chunked
    response = client.post("/api/products", content=chunks, headers={**auth, **JSON})
    assert assert_problem(response, 413)["type"] == "/problems/payload-too-large"


@pytest.mark.parametrize(
    ("path", "takes"),
    [
        ("/api/products/1?bogus=1", "it takes none"),  # the fast path's route
        ("/api/products/1/prices?bogus=1&limit=2", "it takes limit"),
        ("/api/categories?bogus=1", "it takes none"),
        ("/api/stats?bogus=1", "it takes none"),
        ("/health?bogus=1", "it takes none"),
        ("/health/ready?bogus=1", "it takes none"),
    ],
)
def test_unknown_query_parameters_are_refused_on_every_route(
    client: TestClient, path: str, takes: str
) -> None:
    problem = assert_problem(client.get(path), 422)
    assert problem["errors"] == [
        {"detail": f"unknown query parameter; {takes}", "type": "unknown_parameter",
         "parameter": "bogus"}
    ]  # fmt: skip


def test_known_parameters_still_pass(client: TestClient, auth: dict[str, str]) -> None:
    created = client.post("/api/products", json=VALID, headers=auth).json()
    assert client.get(f"/api/products/{created['id']}/prices?limit=1").status_code == 200
    assert client.get("/api/products?category=mac&attr.chip=M2").status_code == 200


def test_thousands_of_problems_are_cut_to_twenty_and_counted(
    client: TestClient, auth: dict[str, str]
) -> None:
    query = "&".join(f"attr.k{i}=1" for i in range(3000))
    response = client.get(f"/api/products?category=mac&{query}")
    problem = assert_problem(response, 422)
    assert (len(problem["errors"]), problem["errors_omitted"]) == (20, 2980)
    assert len(response.content) < 10_000
    attributes: dict[str, object] = {"model": "Mac mini", "chip": "M2"}
    attributes |= {f"k{i}": 1 for i in range(20_000)}
    body = {**VALID, "attributes": attributes}
    response = client.post("/api/products", json=body, headers=auth)
    problem = assert_problem(response, 422)
    assert (len(problem["errors"]), problem["errors_omitted"]) == (20, 19_980)
    assert len(response.content) < 10_000


@pytest.mark.parametrize(
    "path", ["/api/products/1", "/api/products?limit=2", "/api/categories", "/health/live"]
)
def test_head_is_the_get_without_its_body(
    client: TestClient, auth: dict[str, str], path: str
) -> None:
    client.post("/api/products", json=VALID, headers=auth)
    get, head = client.get(path), client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "etag", "cache-control"):
        assert head.headers.get(name) == get.headers.get(name), name


def test_options_answers_with_every_method_of_the_path(client: TestClient) -> None:
    for path, allowed in (
        ("/api/products", "GET, HEAD, OPTIONS, POST"),
        ("/api/products/1", "DELETE, GET, HEAD, OPTIONS, PATCH"),
        ("/admin/replicas/replica1/drain", "OPTIONS, POST"),
    ):
        response = client.options(path)
        assert (response.status_code, response.headers["Allow"]) == (204, allowed), path
    assert_problem(client.options("/api/nothing"), 404)
    assert client.head("/admin/replicas/replica1/drain").status_code == 405
