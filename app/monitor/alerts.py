"""Alerts to webhooks (generic JSON, Slack, Telegram), retried with exponential backoff."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from app.monitor.config import WebhookConfig

log = logging.getLogger("trackr.monitor")

AlertKind = Literal["down", "up", "degraded", "healthy", "drifted", "recovered", "test"]
ICONS = {
    "down": "🔴", "up": "🟢", "degraded": "🟡", "healthy": "🟢",
    "drifted": "🟠", "recovered": "🟢", "test": "🔔",
}  # fmt: skip
HEADLINES = {
    "down": "{subject} is DOWN",
    "up": "{subject} is UP again",
    "degraded": "{subject} is DEGRADED",
    "healthy": "{subject} is fully healthy again",
    "drifted": "backends have DRIFTED apart",
    "recovered": "backends agree again",
    "test": "test notification from trackr monitor",
}


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    subject: str  # a backend's name, or "drift"
    detail: str
    at: float
    url: str | None = None  # the backend's base URL, when about one backend

    @property
    def text(self) -> str:
        headline = HEADLINES[self.kind].format(subject=self.subject)
        stamp = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        where = f" ({self.url})" if self.url else ""
        return f"{ICONS[self.kind]} trackr: {headline}{where} at {stamp}: {self.detail}"


class Retryable(Exception):
    """A delivery that may work if tried again: no answer, 429 or 5xx."""


def request_for(webhook: WebhookConfig, alert: Alert) -> tuple[str, dict[str, Any]]:
    if webhook.kind == "telegram":
        assert webhook.bot_token is not None  # checked by WebhookConfig
        url = f"{webhook.telegram_api}/bot{webhook.bot_token.get_secret_value()}/sendMessage"
        return url, {"chat_id": webhook.chat_id, "text": alert.text}
    assert webhook.url is not None
    if webhook.kind == "slack":
        return webhook.url, {"text": alert.text}
    stamp = datetime.fromtimestamp(alert.at, UTC).isoformat()
    return webhook.url, {**asdict(alert), "at": stamp, "text": alert.text}


async def _post_once(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> None:
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise Retryable(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise Retryable(f"HTTP {response.status_code}")
    response.raise_for_status()  # another 4xx: the webhook refuses this alert; retrying won't help


async def deliver(
    client: httpx.AsyncClient,
    webhook: WebhookConfig,
    alert: Alert,
    attempts: int,
    backoff_seconds: float,
) -> bool:
    """Post one alert; True once the webhook accepted it."""
    url, body = request_for(webhook, alert)
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff_seconds, max=60),
        retry=retry_if_exception_type(Retryable),
    )
    try:
        async for attempt in retrying:
            with attempt:
                await _post_once(client, url, body)
    except RetryError as exc:
        reason = f"{attempts} attempts, last: {exc.last_attempt.exception()}"
    except httpx.HTTPStatusError as exc:  # its message holds the URL (a Telegram token)
        reason = f"refused with HTTP {exc.response.status_code}"
    else:
        return True
    log.warning("alert %s not delivered to %s: %s", alert.kind, webhook.label, reason)
    return False


@dataclass
class Dispatcher:
    """Sends each alert to every webhook in the background: a slow webhook never delays checks."""

    webhooks: list[WebhookConfig]
    attempts: int
    backoff_seconds: float
    timeout_seconds: float = 10.0
    delivered: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0})
    _client: httpx.AsyncClient | None = None
    _pending: set[asyncio.Task[bool]] = field(default_factory=set)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds)
        return self._client

    async def send_now(self, alert: Alert) -> list[bool]:
        """Deliver to every webhook and wait (the test-notification command)."""
        return list(await asyncio.gather(*(self._one(w, alert) for w in self.webhooks)))

    def send(self, alert: Alert) -> None:
        for webhook in self.webhooks:
            task = asyncio.create_task(self._one(webhook, alert))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _one(self, webhook: WebhookConfig, alert: Alert) -> bool:
        ok = await deliver(self._http(), webhook, alert, self.attempts, self.backoff_seconds)
        self.delivered["ok" if ok else "failed"] += 1
        return ok

    async def close(self, grace_seconds: float = 5.0) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=grace_seconds)
        for task in self._pending:
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
