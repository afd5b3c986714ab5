"""`TrackrClient`: the product API over several backends, blocking (httpx.Client)."""

from __future__ import annotations

from typing import Any, TypeVar, Unpack

import httpx

from trackr_client import requests
from trackr_client.models import PriceHistory, Product, ProductPage
from trackr_client.policy import Attempts, ClientOptions, FailoverPolicy, Failure, http_options
from trackr_client.requests import Request
from trackr_client.tracing import Tracer, record_outcome

T = TypeVar("T")


class TrackrClient:
    """Tries `base_urls` in order; see `trackr_client.policy` for what moves on and when.

    `token` is a JWT for writes. Every write gets a fresh `Idempotency-Key` unless you pass
    one (`auto_idempotency=False` turns that off, and with it retries of writes elsewhere).
    """

    def __init__(
        self,
        base_urls: list[str],
        *,
        transport: httpx.BaseTransport | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self.policy = FailoverPolicy(
            base_urls,
            options.get("cooldown_seconds", 30.0),
            options.get("auto_idempotency", True),
        )
        self._http = httpx.Client(transport=transport, **http_options(options))
        self._tracer = Tracer(options.get("tracer_provider"))

    def __enter__(self) -> TrackrClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, request: Request[T]) -> T:
        call = self.policy.prepare(request.call)
        attempts = Attempts()
        with self._tracer.call(call.method, call.path):
            for backend in self.policy.candidates():
                outcome: httpx.Response | Exception
                headers = dict(call.headers)
                with self._tracer.attempt(backend.url, call.method, headers) as span:
                    try:
                        outcome = self._http.request(
                            call.method, backend.url + call.path,
                            params=call.params, json=call.json, headers=headers,
                        )  # fmt: skip
                    except httpx.TransportError as exc:
                        outcome = exc
                    record_outcome(span, outcome)
                    verdict = self.policy.judge(backend, call, outcome)
                if isinstance(verdict, Failure):
                    attempts.record(backend, verdict)
                    continue
                return request.parse(verdict)
            raise attempts.exhausted()

    # -- the API ------------------------------------------------------------------------------
    def get_product(self, product_id: int) -> Product:
        return self._run(requests.get_product(product_id))

    def list_products(self, category: str | None = None, **options: Any) -> ProductPage:
        return self._run(requests.list_products(category, **options))

    def price_history(self, product_id: int, limit: int | None = None) -> PriceHistory:
        return self._run(requests.price_history(product_id, limit))

    def create_product(
        self, product: dict[str, Any], *, idempotency_key: str | None = None
    ) -> Product:
        return self._run(requests.create_product(product, idempotency_key))

    def update_product(
        self,
        product_id: int,
        patch: dict[str, Any],
        *,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Product:
        request = requests.update_product(product_id, patch, if_match, idempotency_key)
        return self._run(request)

    def delete_product(self, product_id: int, *, idempotency_key: str | None = None) -> None:
        self._run(requests.delete_product(product_id, idempotency_key))

    def health(self) -> dict[str, Any]:
        return self._run(requests.health())
