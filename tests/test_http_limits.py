"""Slow, silent and oversized clients against a real `trackr serve` (app.http_limits): each is
answered or closed within its limit while ordinary clients keep being served."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from app.auth import create_token
from app.config import Settings
from app.localcluster import Cluster
from tests.faults.harness import SECRET, ApiServer, api_env

HEAD_TIMEOUT = 1.0
MAX_CONNECTIONS = 60
# Generous: the machine is shared; the point is "closed by the server", not a latency figure.
MARGIN = 4.0


@pytest.fixture(scope="module")
def server(migrated: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    env = {
        **api_env(migrated),
        "REQUEST_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
        "FIRST_BYTE_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
        "MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    }
    api = ApiServer(env, tmp_path_factory.mktemp("limits") / "serve.log")
    api.start()
    try:
        yield api
    finally:
        api.stop()


async def _open(server: ApiServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def _read_until_closed(reader: asyncio.StreamReader, limit: float) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts)."""
    received = b""
    try:
        async with asyncio.timeout(limit):
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionResetError:
        pass
    return received


async def _send_ignoring_reset(writer: asyncio.StreamWriter, data: bytes) -> None:
    """The server may refuse and close before a large request is all sent."""
    try:
        writer.write(data)
        await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


async def _slow_header_client(server: ApiServer) -> tuple[float, bytes]:
    """Sends a header byte every 0.1 s (at most 5 s); returns when the server closed it."""
    reader, writer = await _open(server)
    started = time.monotonic()
    writer.write(b"GET /api/products HTTP/1.1\r\nHost: trackr\r\nX-Slow: ")
    for _ in range(50):
        if reader.at_eof() or writer.is_closing():
            break
        await _send_ignoring_reset(writer, b"a")
        try:
            async with asyncio.timeout(0.1):
                data = await reader.read(65536)
            return time.monotonic() - started, data + await _read_until_closed(reader, MARGIN)
        except TimeoutError:
            continue
    writer.close()
    return time.monotonic() - started, b""


async def _ordinary_reads(server: ApiServer, seconds: float) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            statuses.append((await client.get("/api/products?limit=1")).status_code)
            await asyncio.sleep(0.05)
    return statuses


@pytest.mark.slow
def test_fifty_slow_header_senders_are_cut_off_while_others_are_served(
    server: ApiServer,
) -> None:
    async def scenario() -> tuple[list[tuple[float, bytes]], list[int]]:
        slow = asyncio.gather(*(_slow_header_client(server) for _ in range(50)))
        ordinary = asyncio.create_task(_ordinary_reads(server, 2 * HEAD_TIMEOUT))
        return await slow, await ordinary

    closed, statuses = asyncio.run(scenario())
    for seconds, response in closed:
        assert _status(response) == 408, response[:200]
        assert b"application/problem+json" in response
        assert seconds < HEAD_TIMEOUT + MARGIN
    assert statuses
    assert set(statuses) == {200}


@pytest.mark.slow
def test_a_silent_connection_is_closed(server: ApiServer) -> None:
    async def scenario() -> tuple[float, bytes]:
        reader, _ = await _open(server)
        started = time.monotonic()
        received = await _read_until_closed(reader, HEAD_TIMEOUT + MARGIN)
        assert reader.at_eof(), "still open past the limit"
        return time.monotonic() - started, received

    seconds, received = asyncio.run(scenario())
    assert received == b""  # no request, no response: just closed
    assert seconds >= HEAD_TIMEOUT * 0.9


@pytest.mark.parametrize(
    ("head", "detail"),
    [
        (b"X-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n", b"exceed 16384 bytes"),
        (b"X-Big: " + b"a" * 20_000 + b"\r\n", b"exceed 16384 bytes"),
        (b"".join(b"X-%d: 1\r\n" % i for i in range(20_000)), b"exceed 16384 bytes"),
        (b"".join(b"X-%d: 1\r\n" % i for i in range(150)), b"at most 100 are accepted"),
    ],
    ids=["8MB-header", "20KB-header", "20000-headers", "150-headers"],
)
def test_oversized_heads_are_431(server: ApiServer, head: bytes, detail: bytes) -> None:
    async def scenario() -> bytes:
        reader, writer = await _open(server)
        request = b"GET /api/products HTTP/1.1\r\nHost: trackr\r\n" + head + b"\r\n"
        sending = asyncio.create_task(_send_ignoring_reset(writer, request))
        received = await _read_until_closed(reader, MARGIN)
        sending.cancel()
        writer.close()
        return received

    response = asyncio.run(scenario())
    assert _status(response) == 431, response[:300]
    assert detail in response
    assert httpx.get(f"{server.base_url}/api/products/1", timeout=5).status_code in {200, 404}


def _raw_get(server: ApiServer, target: str) -> bytes:
    async def scenario() -> bytes:
        reader, writer = await _open(server)
        request = f"GET {target} HTTP/1.1\r\nHost: trackr\r\nConnection: close\r\n\r\n"
        await _send_ignoring_reset(writer, request.encode())
        received = await _read_until_closed(reader, MARGIN)
        writer.close()
        return received

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("target", "count", "status"),
    [
        ("/api/products?" + "&".join(f"p{i}=1" for i in range(1500)), 1500, 422),
        ("/api/products/1?" + "&".join(f"p{i}=1" for i in range(1500)), 1500, 422),
        ("/api/products?" + "&".join(f"p{i}=1" for i in range(5000)), 5000, 431),
        ("/api/products?category=mac&" + "&".join(f"attr.k{i}=1" for i in range(20_000)),
         20_000, 431),
    ],
    ids=["1500-params", "1500-params-by-id", "5000-params", "20000-attributes"],
)  # fmt: skip
def test_thousands_of_unknown_parameters_get_a_bounded_answer(
    server: ApiServer, target: str, count: int, status: int
) -> None:
    response = _raw_get(server, target)
    assert _status(response) == status, response[:300]
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"application/problem+json" in head
    assert len(body) < 10_000
    if status == 422:
        problem = httpx.Response(422, content=body).json()
        assert len(problem["errors"]) == 20
        assert problem["errors_omitted"] == count - 20


def test_a_request_beyond_max_connections_is_a_503_problem(server: ApiServer) -> None:
    async def scenario() -> bytes:
        held = [await _open(server) for _ in range(MAX_CONNECTIONS)]
        for reader, writer in held:  # each past its first byte: kept alive, not silent
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: trackr\r\n\r\n")
            await writer.drain()
            await reader.readuntil(b'{"status":"ok"}')
        reader, writer = await _open(server)
        writer.write(b"GET /api/products/1 HTTP/1.1\r\nHost: trackr\r\n\r\n")
        refused = await _read_until_closed(reader, MARGIN)
        for _, held_writer in held:
            held_writer.close()
        return refused

    refused = asyncio.run(scenario())
    assert _status(refused) == 503, refused[:300]
    assert b"application/problem+json" in refused
    assert b"retry-after: 1" in refused
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the held connections are gone: served again
        if httpx.get(f"{server.base_url}/api/products/1", timeout=5).status_code != 503:
            return
        time.sleep(0.1)
    pytest.fail("still refusing after the held connections closed")


def test_a_careless_clients_requests_on_a_real_server(server: ApiServer) -> None:
    """The in-process tests' answers, over real sockets: HEAD has headers and no body,
    OPTIONS names the methods, unknown parameters, unreadable bodies and forged tokens are
    plain problems."""
    settings = Settings(app_env="test", jwt_secret=SECRET)
    auth = {"Authorization": f"Bearer {create_token(settings, ['products:write'], 600)}"}
    raw_head = asyncio.run(_raw_request(server, b"HEAD /health/live HTTP/1.1\r\n"))
    headers, _, body = raw_head.partition(b"\r\n\r\n")
    assert _status(raw_head) == 200
    assert b"content-length: 15" in headers
    assert body == b""
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        options = client.options("/api/products/1")
        assert (options.status_code, options.headers["allow"]) == (
            204, "DELETE, GET, HEAD, OPTIONS, PATCH",
        )  # fmt: skip
        unknown = client.get("/api/products/1?bogus=1")
        assert (unknown.status_code, unknown.json()["errors"][0]["parameter"]) == (422, "bogus")
        unreadable = client.post(
            "/api/products", content=b'{"name": "\xff"}',
            headers={**auth, "Content-Type": "application/json"},
        )  # fmt: skip
        assert unreadable.status_code == 400
        assert unreadable.json()["type"] == "/problems/malformed-json"
        forged = client.get("/api/products", headers={"X-Consistency-Token": "FFFFFFFF/0"})
        assert forged.status_code == 400
        assert forged.json()["type"] == "/problems/invalid-consistency-token"


async def _raw_request(server: ApiServer, request_line: bytes) -> bytes:
    reader, writer = await _open(server)
    writer.write(request_line + b"Host: trackr\r\nConnection: close\r\n\r\n")
    await writer.drain()
    received = await _read_until_closed(reader, MARGIN)
    writer.close()
    return received
