"""The dashboard: an auto-refreshing page, its JSON API and Prometheus `/metrics`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Annotated

from fastapi import FastAPI, Query, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import HTMLResponse, Response

from app.errors import NotFound
from app.monitor.metrics import registry_for
from app.monitor.runner import Monitor
from app.monitor.schemas import IncidentOut, PointOut, StatusOut
from app.monitor.views import incident_out, points, status_document
from app.problems import install_error_handlers

PAGE = files("app.monitor").joinpath("static/dashboard.html").read_text(encoding="utf-8")


def _monitor(request: Request) -> Monitor:
    monitor: Monitor = request.app.state.monitor
    return monitor


def create_monitor_app(monitor: Monitor, poll: bool = True) -> FastAPI:
    """`poll=False` serves what is stored without checking (tests drive `check_all`)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await monitor.start()
        loop = asyncio.create_task(monitor.run()) if poll else None
        try:
            yield
        finally:
            if loop is not None:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            await monitor.close()

    app = FastAPI(title="trackr monitor", lifespan=lifespan)
    app.state.monitor = monitor
    install_error_handlers(app)
    registry = registry_for(monitor)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})

    @app.get("/api/status", response_model=StatusOut)
    async def status(request: Request) -> StatusOut:
        """Every backend's state, drift and recent incidents (what the page shows)."""
        return await status_document(_monitor(request))

    @app.get("/api/backends/{name}/checks", response_model=list[PointOut])
    async def checks(
        request: Request,
        name: str,
        hours: Annotated[float, Query(gt=0, le=24 * 30)] = 24,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[PointOut]:
        """One backend's checks over the last `hours` (oldest first)."""
        monitor = _monitor(request)
        if name not in monitor.urls:
            raise NotFound(f"no backend named {name!r}")
        since = time.time() - hours * 3600
        return points(await monitor.store.history(name, since, limit))

    @app.get("/api/incidents", response_model=list[IncidentOut])
    async def incidents(
        request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> list[IncidentOut]:
        """Down and drift incidents, newest first (open ones have no `ended_at`)."""
        return [incident_out(i) for i in await _monitor(request).store.incidents(limit=limit)]

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    return app
