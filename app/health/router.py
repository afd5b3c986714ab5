"""/health (full report), /health/live (process only) and /health/ready (can serve reads)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from app.health.report import HealthReport, as_dict, build_report, can_serve_reads
from app.responses import json_response

router = APIRouter(prefix="/health", tags=["health"])


class ReadyOut(BaseModel):
    status: str = Field(description="`ok`, `degraded`, `down`, or `draining` before a stop")


def _report(request: Request) -> HealthReport:
    state = request.app.state
    return build_report(
        state.database.pool,
        state.started_at,
        state.version,
        state.rate_limiter,
        state.cache,
        state.backup_watcher.status,
    )


@router.get("", response_model=HealthReport, responses={503: {"model": HealthReport}})
async def health(request: Request) -> Response:
    """DB latency, replica lag and rotation; 503 when reads cannot be served."""
    report = _report(request)
    return json_response(as_dict(report), status_code=200 if can_serve_reads(report) else 503)


@router.get("/live", response_model=ReadyOut)
async def live() -> Response:
    """The process is up (no database check)."""
    return json_response({"status": "ok"})


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Cannot serve reads, or draining"}},
)
async def ready(request: Request) -> Response:
    """200 while reads can be served (a primary or a replica in rotation); 503 when they
    cannot, or while the node drains before a graceful stop."""
    if request.app.state.draining.is_set():
        return json_response({"status": "draining"}, status_code=503)
    report = _report(request)
    ok = can_serve_reads(report)
    return json_response({"status": report.status}, status_code=200 if ok else 503)
