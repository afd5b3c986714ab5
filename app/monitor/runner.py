"""The polling loop: check every backend, store the checks, turn state changes into
incidents and alerts."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import httpx

from app.monitor.alerts import Alert, Dispatcher
from app.monitor.config import MonitorSettings
from app.monitor.probe import Check, probe
from app.monitor.state import DRIFT, Event, Tracker
from app.monitor.store import Store

log = logging.getLogger("trackr.monitor")

DAY = 24 * 3600.0
PRUNE_EVERY_ROUNDS = 100


@dataclass(frozen=True)
class Uptime:
    day: float | None
    week: float | None


def data_changed(previous: Check | None, current: Check) -> bool:
    """The backend's data moved since the last check (a create, edit or delete)."""
    if previous is None or previous.counts is None or current.counts is None:
        return False
    return (previous.counts, previous.last_updated_at) != (
        current.counts,
        current.last_updated_at,
    )


class Monitor:
    def __init__(self, settings: MonitorSettings) -> None:
        self.settings = settings
        self.store = Store(settings.database_url)
        self.dispatcher = Dispatcher(
            settings.webhooks, settings.alert_attempts, settings.alert_backoff_seconds
        )
        self.urls = {b.name: b.url for b in settings.backends}
        self.tracker = Tracker(
            list(self.urls), settings.failures_before_down, settings.drift_tolerance
        )
        self.latest: dict[str, Check] = {}
        self.last_reported: dict[str, Check] = {}  # newest check that carried the backend's data
        self.uptime: dict[str, Uptime] = {}
        self.checks_total: dict[str, int] = dict.fromkeys(self.urls, 0)
        self.rounds = 0
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        await self.store.open()
        stored = await self.store.latest_checks()
        self.latest = {name: check for name, check in stored.items() if name in self.urls}
        self.last_reported = {n: c for n, c in self.latest.items() if c.counts is not None}
        open_incidents = await self.store.incidents(limit=1000, open_only=True)
        down = [(i.subject, i.started_at) for i in open_incidents if i.kind == "down"]
        drift = [i.started_at for i in open_incidents if i.kind == "drift"]
        self.tracker.restore(down, drift[0] if drift else None)
        self._http = httpx.AsyncClient(timeout=self.settings.timeout_seconds)
        await self._refresh_uptime(time.time())

    async def close(self) -> None:
        await self.dispatcher.close()
        if self._http is not None:
            await self._http.aclose()
        await self.store.close()

    async def check_all(self) -> list[Event]:
        """One round: every backend at once; returns the state changes it caused."""
        assert self._http is not None, "start() first"
        client = self._http
        checks = await asyncio.gather(*(probe(client, b) for b in self.settings.backends))
        events: list[Event] = []
        for check in checks:
            await self.store.add_check(check, data_changed(self.latest.get(check.backend), check))
            self.latest[check.backend] = check
            if check.counts is not None:
                self.last_reported[check.backend] = check
            self.checks_total[check.backend] += 1
            if event := self.tracker.observe(check):
                events.append(event)
        if event := self.tracker.observe_round(list(checks)):
            events.append(event)
        for event in events:
            await self._record(event)
        now = time.time()
        await self._refresh_uptime(now)
        self.rounds += 1
        if self.rounds % PRUNE_EVERY_ROUNDS == 0:
            await self.store.prune(now - self.settings.retention_days * DAY)
        return events

    async def _refresh_uptime(self, now: float) -> None:
        for name in self.urls:
            day = await self.store.uptime(name, now - DAY)
            week = await self.store.uptime(name, now - 7 * DAY)
            self.uptime[name] = Uptime(day, week)

    async def _record(self, event: Event) -> None:
        kind = "drift" if event.subject == DRIFT else "down"
        if event.kind in ("down", "drifted"):
            await self.store.open_incident(event.subject, kind, event.at, event.detail)
        else:
            await self.store.close_incident(event.subject, kind, event.at)
        log.warning("monitor: %s %s: %s", event.subject, event.kind, event.detail)
        self.dispatcher.send(
            Alert(event.kind, event.subject, event.detail, event.at, self.urls.get(event.subject))
        )

    async def run(self) -> None:
        """Check every `interval_seconds` until cancelled; a failed round is logged, not fatal."""
        while True:
            started = time.monotonic()
            try:
                await self.check_all()
            except Exception:
                log.exception("monitor round failed")
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.0, self.settings.interval_seconds - elapsed))
