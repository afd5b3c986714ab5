"""The failover client against three real backends: killed, hung (SIGSTOP) and healthy."""

from __future__ import annotations

import asyncio
import time

import pytest
from trackr_client import AllBackendsUnavailable, ApiError, AsyncTrackrClient, TrackrClient

from app.localcluster import Cluster
from tests.client.backends import MAC, Trio, mean, timed

pytestmark = pytest.mark.slow

TIMEOUT = 1.0  # read timeout: what a hung backend costs the first request that meets it


def client(trio: Trio, *urls: str, auto_idempotency: bool = True) -> TrackrClient:
    return TrackrClient(
        list(urls), token=trio.token, timeout=TIMEOUT, auto_idempotency=auto_idempotency
    )


def product_ids_named(cluster: Cluster, name: str) -> list[str]:
    rows = cluster.primary().sql(
        f"SELECT coalesce(string_agg(id::text, ','), '') FROM products WHERE name = '{name}'",
        dbname="trackr",
    )
    return [r for r in rows.split(",") if r]


def test_writes_then_reads_carry_the_consistency_token(trio: Trio, clean_db: Cluster) -> None:
    with client(trio, trio.healthy.base_url) as api:
        created = api.create_product(MAC)
        token = api.policy.consistency_token
        assert token is not None
        assert api.get_product(created.id) == created
        updated = api.update_product(created.id, {"price": 1049.0}, if_match=created.version)
        assert updated.version == 2
        assert api.policy.consistency_token != token  # the newer write's position
        assert [p.price for p in api.price_history(created.id).items] == [1049, 999]
        assert api.list_products("mac", attributes={"chip": "M2"}).items[0].id == created.id
        with pytest.raises(ApiError) as stale:
            api.update_product(created.id, {"price": 1.0}, if_match=1)
        assert stale.value.status == 412
        api.delete_product(created.id)
        with pytest.raises(ApiError) as gone:
            api.get_product(created.id)
        assert gone.value.status == 404


def test_a_killed_backend_costs_little_and_is_then_skipped(trio: Trio, clean_db: Cluster) -> None:
    with client(trio, trio.healthy.base_url) as direct:
        product = direct.create_product(MAC)
        direct_mean = mean(timed(lambda: direct.get_product(product.id), 20))
    with client(trio, trio.killed.base_url, trio.healthy.base_url) as api:
        first = timed(lambda: api.get_product(product.id), 1)[0]
        assert api.policy.backends[0].breaker.state == "open"
        later = mean(timed(lambda: api.get_product(product.id), 20))
    assert first - direct_mean < 1.0, f"first read with a dead backend took {first:.3f}s"
    assert later - direct_mean < 0.1, "the open breaker should skip the dead backend"


def test_a_hung_backend_costs_one_timeout_then_is_skipped(trio: Trio, clean_db: Cluster) -> None:
    with client(trio, trio.healthy.base_url) as direct:
        product = direct.create_product(MAC)
    with trio.frozen(), client(trio, trio.hung.base_url, trio.healthy.base_url) as api:
        first = timed(lambda: api.get_product(product.id), 1)[0]
        later = mean(timed(lambda: api.get_product(product.id), 10))
    assert first <= TIMEOUT + 0.5, f"first read behind a hung backend took {first:.3f}s"
    assert later < 0.2


def test_hedged_reads_do_not_wait_for_a_hung_backend(trio: Trio, clean_db: Cluster) -> None:
    with client(trio, trio.healthy.base_url) as direct:
        product = direct.create_product(MAC)

    async def read() -> float:
        urls = [trio.hung.base_url, trio.healthy.base_url]
        async with AsyncTrackrClient(urls, timeout=5, hedge_after=0.2) as api:
            started = time.perf_counter()
            assert (await api.get_product(product.id)).id == product.id
            return time.perf_counter() - started

    with trio.frozen():
        elapsed = asyncio.run(read())
    assert elapsed < 1.0, f"a hedged read behind a hung backend took {elapsed:.3f}s"


def test_a_write_retried_on_another_backend_is_applied_once(trio: Trio, clean_db: Cluster) -> None:
    """The hung backend has the request in its socket when the client gives up on it; once
    thawed it processes it too. The shared Idempotency-Key makes that a replay, not a copy."""
    name = "sent twice"
    with trio.frozen(), client(trio, trio.hung.base_url, trio.healthy.base_url) as api:
        created = api.create_product({**MAC, "name": name})
    time.sleep(2.0)  # the thawed backend has read the stale request by now
    assert product_ids_named(clean_db, name) == [str(created.id)]


def test_an_unkeyed_write_is_not_repeated_after_it_may_have_run(
    trio: Trio, clean_db: Cluster
) -> None:
    urls = (trio.hung.base_url, trio.healthy.base_url)
    with (
        trio.frozen(),
        client(trio, *urls, auto_idempotency=False) as api,
        pytest.raises(AllBackendsUnavailable) as failure,
    ):
        api.create_product({**MAC, "name": "unkeyed"})
    assert list(failure.value.errors) == [trio.hung.base_url]
    assert "may have been applied" in failure.value.errors[trio.hung.base_url]
    # a refused connection was never sent, so even an unkeyed write moves on
    with client(trio, trio.killed.base_url, trio.healthy.base_url, auto_idempotency=False) as api:
        assert api.create_product({**MAC, "name": "moved on"}).name == "moved on"


def test_every_backend_down_names_each_error(trio: Trio) -> None:
    with (
        trio.frozen(),
        client(trio, trio.killed.base_url, trio.hung.base_url) as api,
        pytest.raises(AllBackendsUnavailable) as failure,
    ):
        api.get_product(1)
    errors = failure.value.errors
    assert set(errors) == {trio.killed.base_url, trio.hung.base_url}
    assert "ConnectError" in errors[trio.killed.base_url]
    assert "ReadTimeout" in errors[trio.hung.base_url]
