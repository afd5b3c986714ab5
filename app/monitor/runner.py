"""The polling loop: check every backend, store the checks, turn state changes into
incidents and alerts."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from app.monitor.alerts import Alert, Dispatcher
from app.monitor.config import MonitorSettings
from app.monitor.probe import Check, probe
from app.monitor.state import DRIFT, Event, Status, Tracker
from app.monitor.store import Store

log = logging.getLogger("trackr.monitor")

DAY = 24 * 3600.0
PRUNE_EVERY_ROUNDS = 100


BACKEND_INCIDENTS = ("down", "degraded")


@dataclass(frozen=True)
class Uptime:
    """Shares of checks: available (answered, degraded or not) and fully healthy."""

    day: float | None
    week: float | None
    healthy_day: float | None
    healthy_week: float | None


def data_changed(previous: Check | None, current: Check) -> bool:
    """The backend's data moved since the last check (a create, edit or delete)."""
    if previous is None or previous.counts is None or current.counts is None:
        return False
    return (previous.counts, previous.last_updated_at) != (
        current.counts,
        current.last_updated_at,
    )


class Monitor:
    def __init__(self, settings: MonitorSettings, tracer_provider: Any = None) -> None:
        """`tracer_provider`: an OpenTelemetry TracerProvider to trace the rounds and their
        probes with (app.tracing), or None."""
        self.settings = settings
        self.tracer_provider = tracer_provider
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
        states: list[tuple[str, Status, float]] = [
            (i.subject, "down" if i.kind == "down" else "degraded", i.started_at)
            for i in open_incidents
            if i.kind in BACKEND_INCIDENTS
        ]
        drift = [i.started_at for i in open_incidents if i.kind == "drift"]
        self.tracker.restore(states, drift[0] if drift else None)
        self._http = httpx.AsyncClient(timeout=self.settings.timeout_seconds)
        if self.tracer_provider is not None:
            from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

            HTTPXClientInstrumentor.instrument_client(
                self._http, tracer_provider=self.tracer_provider
            )
        await self._refresh_uptime(time.time())

    async def close(self) -> None:
        await self.dispatcher.close()
        if self._http is not None:
            await self._http.aclose()
        await self.store.close()

    async def check_all(self) -> list[Event]:
        """One round: every backend at once; returns the state changes it caused. Traced, a
        round is a span and each probe's requests are client spans under it."""
        if self.tracer_provider is None:
            return await self._check_all()
        tracer = self.tracer_provider.get_tracer("trackr.monitor")
        with tracer.start_as_current_span("monitor round") as span:
            events = await self._check_all()
            span.set_attribute("trackr.monitor.events", [e.kind for e in events])
            return events

    async def _check_all(self) -> list[Event]:
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
            self.uptime[name] = Uptime(day[0], week[0], day[1], week[1])

    async def _record(self, event: Event) -> None:
        """An incident per spell of drift, and per spell of each bad state of a backend: a
        backend's event ends its open incident and, into a bad state, opens the next."""
        if event.subject == DRIFT:
            if event.kind == "drifted":
                await self.store.open_incident(DRIFT, "drift", event.at, event.detail)
            else:
                await self.store.close_incident(DRIFT, "drift", event.at)
        else:
            for kind in BACKEND_INCIDENTS:
                await self.store.close_incident(event.subject, kind, event.at)
            if event.kind in BACKEND_INCIDENTS:
                await self.store.open_incident(event.subject, event.kind, event.at, event.detail)
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
