"""`AsyncTrackrClient`: the product API over several backends (httpx.AsyncClient), with
optional hedged reads: when a read has no answer after `hedge_after` seconds, the same read
also goes to the next backend and the first good answer wins (the other is cancelled)."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar, Unpack

import httpx

from trackr_client import requests
from trackr_client.models import PriceHistory, Product, ProductPage
from trackr_client.policy import (
    Attempts,
    Backend,
    Call,
    ClientOptions,
    FailoverPolicy,
    Failure,
    http_options,
)
from trackr_client.requests import Request
from trackr_client.tracing import Tracer, record_outcome

T = TypeVar("T")


class AsyncTrackrClient:
    """The async twin of `TrackrClient` (same arguments, plus `hedge_after`)."""

    def __init__(
        self,
        base_urls: list[str],
        *,
        hedge_after: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self.policy = FailoverPolicy(
            base_urls,
            options.get("cooldown_seconds", 30.0),
            options.get("auto_idempotency", True),
        )
        self.hedge_after = hedge_after
        self._http = httpx.AsyncClient(transport=transport, **http_options(options))
        self._tracer = Tracer(options.get("tracer_provider"))

    async def __aenter__(self) -> AsyncTrackrClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, backend: Backend, call: Call) -> httpx.Response | Exception:
        headers = dict(call.headers)
        with self._tracer.attempt(backend.url, call.method, headers) as span:
            outcome: httpx.Response | Exception
            try:
                outcome = await self._http.request(
                    call.method, backend.url + call.path,
                    params=call.params, json=call.json, headers=headers,
                )  # fmt: skip
            except httpx.TransportError as exc:
                outcome = exc
            record_outcome(span, outcome)
            return outcome

    async def _run(self, request: Request[T]) -> T:
        call = self.policy.prepare(request.call)
        with self._tracer.call(call.method, call.path):
            return await self._attempts(request, call)

    async def _attempts(self, request: Request[T], call: Call) -> T:
        attempts = Attempts()
        waiting = list(self.policy.candidates())
        hedge = self.hedge_after if call.method == "GET" else None
        running: dict[asyncio.Task[httpx.Response | Exception], Backend] = {}

        def launch() -> None:
            backend = waiting.pop(0)
            running[asyncio.create_task(self._send(backend, call))] = backend

        launch()
        try:
            while running:
                timeout = hedge if waiting else None
                done, _ = await asyncio.wait(
                    running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:  # the hedge delay passed with no answer: ask the next backend too
                    launch()
                    continue
                for task in done:
                    backend = running.pop(task)
                    verdict = self.policy.judge(backend, call, task.result())
                    if not isinstance(verdict, Failure):
                        return request.parse(verdict)
                    attempts.record(backend, verdict)
                if not running and waiting:
                    launch()
            raise attempts.exhausted()
        finally:
            for task in running:
                task.cancel()

    # -- the API ------------------------------------------------------------------------------
    async def get_product(self, product_id: int) -> Product:
        return await self._run(requests.get_product(product_id))

    async def list_products(self, category: str | None = None, **options: Any) -> ProductPage:
        return await self._run(requests.list_products(category, **options))

    async def price_history(self, product_id: int, limit: int | None = None) -> PriceHistory:
        return await self._run(requests.price_history(product_id, limit))

    async def create_product(
        self, product: dict[str, Any], *, idempotency_key: str | None = None
    ) -> Product:
        return await self._run(requests.create_product(product, idempotency_key))

    async def update_product(
        self,
        product_id: int,
        patch: dict[str, Any],
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Product:
        return await self._run(
            requests.update_product(product_id, patch, if_match, idempotency_key)
        )

    async def delete_product(self, product_id: int, *, idempotency_key: str | None = None) -> None:
        await self._run(requests.delete_product(product_id, idempotency_key))

    async def health(self) -> dict[str, Any]:
        return await self._run(requests.health())
