"""/admin: see and steer read routing. Every change is logged and stored on the primary, so
every API process and node applies it within one check interval."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from app.admin import repository
from app.admin.schemas import BalancingChange, RoutingState
from app.auth import Principal, require_scope
from app.db.database import Database
from app.db.lsn import format_lsn
from app.db.replicas import ReplicaPool
from app.dependencies import get_database, request_write
from app.errors import NotFound
from app.problems import problem_responses
from app.responses import json_response

log = logging.getLogger("trackr.admin")
router = APIRouter(prefix="/admin", tags=["admin"], responses=problem_responses(429))
AdminDep = Annotated[Principal, Depends(require_scope("admin"))]
DatabaseDep = Annotated[Database, Depends(get_database)]


def routing_state(pool: ReplicaPool) -> dict[str, Any]:
    primary = pool.primary
    return {
        "read_balancing": pool.read_balancing,
        "configured_read_balancing": pool.configured_balancing,
        "override": pool.balancing_override,
        "primary": {
            "name": "primary", "role": "primary", "up": pool.primary_up, "site": primary.site,
            "reachable": primary.reachable, "latency_ms": primary.latency_ms,
            "wal_lsn": format_lsn(primary.wal_lsn) if primary.wal_lsn is not None else None,
            "error": primary.last_error, "breaker": pool.breaker.state.value,
            "breaker_opened_total": pool.breaker.opened_total,
        },
        "replicas": [
            {
                "name": r.name, "role": "replica", "site": r.site, "reachable": r.reachable,
                "in_recovery": r.in_recovery, "healthy": r.healthy, "drained": r.drained,
                "in_rotation": r.in_rotation, "reason": r.reason, "weight": r.weight,
                "lag_bytes": r.lag_bytes, "lag_seconds": r.lag_seconds,
                "latency_ms": r.latency_ms,
                "replay_lsn": format_lsn(r.replay_lsn) if r.replay_lsn is not None else None,
                "reads_routed": r.reads_routed, "failed_reads": r.failed_reads,
            }
            for r in pool.replicas.values()
        ],
        "counters": {
            "reads_to_primary": dict(pool.reads_to_primary),
            "read_retries": pool.read_retries,
        },
    }  # fmt: skip


def _who(principal: Principal) -> str:
    return principal.subject or "unknown"


@router.get("/routing", response_model=RoutingState, responses=problem_responses(401, 403))
async def get_routing(_: AdminDep, database: DatabaseDep) -> Response:
    """Every node: role, in_rotation and why not, lag, counters; the balancing mode."""
    return json_response(routing_state(database.pool))


@router.post(
    "/routing",
    response_model=RoutingState,
    responses=problem_responses(400, 401, 403, 413, 422, 503),
)
async def set_balancing(
    principal: AdminDep, change: BalancingChange, request: Request, database: DatabaseDep
) -> Response:
    """Change READ_BALANCING at run time (`primary` during an incident); null resets it."""
    async with request_write(request, database) as session:
        _, drained = await repository.load_for_update(session)
        await repository.save(session, change.read_balancing, drained, _who(principal))
    database.pool.apply_overrides(change.read_balancing, drained)  # once committed
    log.warning("admin %s set read_balancing=%s", _who(principal), change.read_balancing)
    return json_response(routing_state(database.pool))


async def _set_drained(
    request: Request, name: str, drain: bool, principal: Principal, database: Database
) -> Response:
    pool = database.pool
    if name not in pool.replicas:
        raise NotFound(f"no replica named {name!r}; known: {', '.join(pool.replicas) or 'none'}")
    async with request_write(request, database) as session:
        mode, drained = await repository.load_for_update(session)
        drained = sorted(set(drained) | {name}) if drain else [n for n in drained if n != name]
        await repository.save(session, mode, drained, _who(principal))
    pool.apply_overrides(mode, drained)  # once committed: the monitor may read the row before
    log.warning(
        "admin %s %s replica %s", _who(principal), "drained" if drain else "undrained", name
    )
    return json_response(routing_state(pool))


ReplicaName = Annotated[str, Path(max_length=100)]
DRAIN_PROBLEMS = problem_responses(401, 403, 404, 422, 503)


@router.post("/replicas/{name}/drain", response_model=RoutingState, responses=DRAIN_PROBLEMS)
async def drain(
    principal: AdminDep, name: ReplicaName, request: Request, database: DatabaseDep
) -> Response:
    """Take a replica out of read rotation (health checks continue)."""
    return await _set_drained(request, name, True, principal, database)


@router.post("/replicas/{name}/undrain", response_model=RoutingState, responses=DRAIN_PROBLEMS)
async def undrain(
    principal: AdminDep, name: ReplicaName, request: Request, database: DatabaseDep
) -> Response:
    """Put a drained replica back (it still has to be healthy to serve)."""
    return await _set_drained(request, name, False, principal, database)
