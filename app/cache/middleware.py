"""The read cache in front of the product reads (outside the hot path, inside CORS, the rate
limits and the request context, so hits are counted, limited and logged like any read).

Cached: `GET /api/products/{id}` (with its ETag: `If-None-Match` gets 304 from the cache),
`GET /api/products?…` (each query string its own entry), `GET /api/products/{id}/prices?…`
and `GET /api/categories`. Only 200 responses are kept. A read with `Cache-Control:
no-cache` skips the cache; one with `X-Consistency-Token` is served from an entry only when
the entry's stamp is at or past the token. `X-Cache` says `hit-memory`, `hit-redis` or
`miss`; `X-Served-By` names the node whose read made the entry.
"""

from __future__ import annotations

import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.cache.entry import Entry
from app.cache.floors import PENDING
from app.cache.keys import Key, item_key
from app.cache.store import ReadCache
from app.db.session import parse_token
from app.dependencies import CACHE_FLOOR, CONSISTENCY_HEADER, served_by
from app.errors import AppError
from app.middleware import route_path
from app.products.query import product_id
from app.responses import names_etag

PRODUCTS = "/api/products"
CATEGORIES = "/api/categories"
CACHE_HEADER = "X-Cache"
HIT_MARKERS = {tier: (CACHE_HEADER.lower().encode(), f"hit-{tier}".encode())
               for tier in ("memory", "redis")}  # fmt: skip


def _under_product(path: str) -> tuple[int, str] | None:
    """`/api/products/{id}[/rest]` as (id, rest); None for any other path."""
    if not path.startswith(PRODUCTS + "/"):
        return None
    segment, _, rest = path[len(PRODUCTS) + 1 :].partition("/")
    pid = product_id(segment)
    return None if pid is None else (pid, rest)


def cache_key(scope: Scope) -> Key | None:
    path = route_path(scope)
    query = scope["query_string"].decode("latin-1")
    if path == PRODUCTS:
        return Key("view", f"l:?{query}")
    if path == CATEGORIES:
        return None if query else Key("view", "c:")
    match _under_product(path):
        case (pid, "") if not query:
            return item_key(pid)
        case (pid, "prices"):
            return Key("view", f"h:{pid}?{query}", pid)
    return None


def _reads_refused(scope: Scope) -> bool:
    """A site cut off from the others past the grace serves no read, from its cache neither:
    the others may have taken writes it cannot see, and its own primary (still answering its
    channel) vouches only for what it knows. The route then says so (app.db.session)."""
    database = getattr(scope["app"].state, "database", None)
    return database is not None and bool(database.pool.past_partition_grace())


def written_product(scope: Scope) -> int | None:
    """The product a PATCH or DELETE names, if it does."""
    if scope["method"] not in ("PATCH", "DELETE"):
        return None
    match _under_product(route_path(scope)):
        case (pid, ""):
            return pid
    return None


class ReadCacheMiddleware:
    def __init__(self, app: ASGIApp, cache: ReadCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["method"] == "GET" and (key := cache_key(scope)) is not None:
            await self._read(scope, receive, send, key)
        elif (pid := written_product(scope)) is not None:
            await self._write(scope, receive, send, pid)
        else:
            await self.app(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send, key: Key) -> None:
        headers = Headers(scope=scope)
        if "no-cache" in headers.get("cache-control", "").lower() or _reads_refused(scope):
            await self.app(scope, receive, send)
            return
        try:
            token = parse_token(headers.get(CONSISTENCY_HEADER), CONSISTENCY_HEADER)
        except AppError:  # the route says what is wrong with it
            await self.app(scope, receive, send)
            return
        epoch = self.cache.epoch
        found = await self.cache.get(key, token)
        if found is not None:
            entry, tier = found
            await self._send_entry(scope, send, entry, tier, headers.get("if-none-match"))
            return
        floor = self.cache.floors.of(key)
        if 0 < floor < PENDING:
            scope.setdefault("state", {})[CACHE_FLOOR] = floor
        await self._fill(scope, receive, send, key, epoch)

    async def _send_entry(
        self, scope: Scope, send: Send, entry: Entry, tier: str, if_none_match: str | None
    ) -> None:
        scope.setdefault("state", {})["served_by"] = entry.served_by
        marker = HIT_MARKERS[tier]
        if (
            if_none_match is not None
            and (etag := entry.etag) is not None
            and names_etag(if_none_match, etag)  # as the route answers it
        ):
            await send({"type": "http.response.start", "status": 304,
                        "headers": [(b"etag", etag.encode("latin-1")), marker]})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*entry.headers, marker]})  # fmt: skip
        await send({"type": "http.response.body", "body": entry.body})

    async def _fill(self, scope: Scope, receive: Receive, send: Send, key: Key, epoch: int) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = {**message, "headers": list(message.get("headers", []))}
                message["headers"] = [*start["headers"], (b"x-cache", b"miss")]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if start is None or start["status"] != 200:
            return
        state = scope.get("state", {})
        session = state.get("read_session")
        stamp = getattr(session, "stamp", None)
        node = served_by(state)
        if stamp is None or node is None:
            return  # nothing was read from the database: nothing to vouch for
        replica = bool(getattr(session, "replica_read", True))
        body = b"".join(chunks)
        entry = Entry(tuple(start["headers"]), body, stamp, time.time(), node, replica)
        self.cache.put(key, entry, epoch)

    async def _write(self, scope: Scope, receive: Receive, send: Send, pid: int) -> None:
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if 200 <= status < 300:
            self.cache.forget_shared(pid)
