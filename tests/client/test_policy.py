"""The failover policy's verdicts on answers (pure logic: real httpx responses, no network)."""

from __future__ import annotations

from typing import Any

import httpx
from trackr_client.policy import Call, FailoverPolicy, Failure

URLS = ["http://render.example", "http://railway.example"]
WRITE = Call("POST", "/api/products", json={}, headers={"Idempotency-Key": "k"})
READ = Call("GET", "/api/products/1")


def answer(status: int, problem_type: str, call: Call = WRITE) -> httpx.Response:
    body: dict[str, Any] = {"type": problem_type, "title": "t", "status": status}
    return httpx.Response(
        status,
        json=body,
        headers={"content-type": "application/problem+json", "Retry-After": "1"},
        request=httpx.Request(call.method, URLS[0] + call.path),
    )


def test_a_write_with_no_writer_anywhere_moves_on_without_blaming_the_backend() -> None:
    policy = FailoverPolicy(URLS, cooldown_seconds=30)
    render = policy.backends[0]
    verdict = policy.judge(render, WRITE, answer(503, "/problems/primary-unavailable"))
    assert isinstance(verdict, Failure)
    assert verdict.moves_on
    assert render.breaker.allow()  # it still serves reads: stay with it
    assert [b.url for b in policy.candidates()] == URLS


def test_a_cut_off_site_is_left_for_the_cool_down() -> None:
    policy = FailoverPolicy(URLS, cooldown_seconds=30)
    render = policy.backends[0]
    verdict = policy.judge(render, WRITE, answer(503, "/problems/site-cut-off"))
    assert isinstance(verdict, Failure)
    assert not render.breaker.allow()
    assert [b.url for b in policy.candidates()] == URLS[1:]


def test_a_read_with_no_writer_counts_against_the_backend() -> None:
    policy = FailoverPolicy(URLS, cooldown_seconds=30)
    render = policy.backends[0]
    policy.judge(render, READ, answer(503, "/problems/primary-unavailable", READ))
    assert not render.breaker.allow()  # it could not serve this read: try the next
