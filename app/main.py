"""create_app(): settings, lifespan (engines + replica monitor), middleware, errors, routers."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline

from app import fastapi_probe  # noqa: F401  (first: it guards FastAPI before routes are built)
from app.admin.repository import read_current as read_overrides
from app.admin.router import router as admin_router
from app.auth import VerifiedTokens, import_deferred
from app.cache.listener import InvalidationListener
from app.cache.middleware import ReadCacheMiddleware
from app.cache.store import ReadCache
from app.categories.router import router as categories_router
from app.config import Settings, get_settings
from app.cors import install_cors
from app.db.database import Database
from app.db.replicas import ReplicaPool
from app.health.backups import BackupWatcher
from app.health.router import router as health_router
from app.idempotency.service import purge_forever
from app.lifecycle import install_drain
from app.logs import configure_logging
from app.methods import MethodsMiddleware
from app.metrics import PrometheusPoolObserver, observe_backups
from app.metrics import router as metrics_router
from app.middleware import DOCS_STATIC, BodySizeLimitMiddleware, RequestContextMiddleware
from app.parameters import known_parameters_only
from app.problems import install_error_handlers, install_openapi, problem_responses
from app.products.hot import HotReadsMiddleware
from app.products.hot_writes import HotWritesMiddleware
from app.products.router import router as products_router
from app.stats.router import router as stats_router
from app.tracing import Tracing, tracing_requested

if TYPE_CHECKING:
    from app.ratelimit.limiter import RateLimiter


def _version() -> str:
    try:
        return version("trackr")
    except PackageNotFoundError:
        return "0.0.0"


# The freeze's full collection takes ~70 ms; run before serving, it delayed readiness by as
# much (docs/performance-notes.md, step 18).
FREEZE_AFTER_SECONDS = 1.0
NO_NATIVE_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def freeze_startup_heap() -> None:
    """Import what startup left for later (app.auth.import_deferred), then move everything
    built at startup (modules, routes, schemas, pools) out of the collector's reach, and turn
    collection on (app.asgi turns it off while the app is built). Request garbage is
    short-lived, but every full collection used to walk the whole startup heap: `gc.freeze()`
    took by-id reads from 0.45x to 0.6x of the raw twin (docs/performance-notes.md)."""
    import_deferred()
    gc.collect()
    gc.freeze()
    gc.enable()


def _rate_limiter(settings: Settings) -> RateLimiter | None:
    if not settings.rate_limit_enabled:
        return None
    # Imported only when enabled: `limits` and redis-py cost a cold start 0.5 s.
    from app.ratelimit.limiter import RateLimiter

    return RateLimiter(settings)


def create_app(settings: Settings | None = None, tracing: Tracing | None = None) -> FastAPI:
    """The app; traced when `tracing` is given or the OTEL_* environment asks for it."""
    settings = settings or get_settings()
    if tracing is None and tracing_requested():
        tracing = Tracing()
    configure_logging(settings.log_level, settings.log_format, traced=tracing is not None)
    limiter = _rate_limiter(settings)
    cache = ReadCache(settings) if settings.cache_enabled else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if tracing is not None:
            tracing.start()
        observer = PrometheusPoolObserver()
        pool = ReplicaPool.from_settings(settings, overrides=read_overrides, observer=observer)
        database = Database.for_pool(pool)
        observer.watch_connections(database.engines.usage)
        await database.start()
        app.state.database = database
        listener = InvalidationListener(cache, pool) if cache is not None else None
        if listener is not None:
            await listener.start()
        purger = asyncio.create_task(
            purge_forever(database.engines.primary, settings.idempotency_ttl_seconds, 900)
        )
        watcher = BackupWatcher(
            database.engines.primary, settings.backup_status_interval_seconds, observe_backups
        )
        app.state.backup_watcher = watcher
        watcher.start()
        install_drain(app.state.draining, settings.shutdown_drain_seconds)
        freezer = asyncio.get_running_loop().call_later(FREEZE_AFTER_SECONDS, freeze_startup_heap)
        try:
            yield
        finally:
            freezer.cancel()
            purger.cancel()
            await watcher.stop()
            if listener is not None:
                await listener.stop()
            await database.stop()
            if cache is not None:
                await cache.aclose()
            if limiter is not None:
                await limiter.aclose()
            if tracing is not None:
                tracing.stop()

    # /docs and /redoc from the installed package's Swagger UI and ReDoc files, not a CDN:
    # they work on a private network.
    app = FastAPIOffline(
        static_url=DOCS_STATIC,
        title="trackr",
        version=_version(),
        summary="Multi-category price tracking on a replicated PostgreSQL",
        lifespan=lifespan,
        dependencies=[Depends(known_parameters_only)],
        responses=problem_responses(422),
        # trackr's tracing is app/tracing.py's. FastAPI's own layer would look up the global
        # OpenTelemetry providers on every request (4% of a cached read) for nothing.
        telemetry=NO_NATIVE_TELEMETRY,
    )
    app.state.settings = settings
    app.state.rate_limiter = limiter
    app.state.tokens = VerifiedTokens(settings)
    app.state.cache = cache
    app.state.draining = threading.Event()
    app.state.started_at = time.monotonic()
    app.state.version = app.version
    install_error_handlers(app, settings.max_field_problems)
    install_openapi(app)
    app.include_router(health_router)
    app.include_router(categories_router)
    app.include_router(products_router)
    app.include_router(stats_router)
    app.include_router(admin_router)
    app.include_router(metrics_router)
    app.add_middleware(HotReadsMiddleware)
    app.add_middleware(HotWritesMiddleware)
    if cache is not None:  # outside the fast path; inside HEAD's GET, the limits and the log
        app.add_middleware(ReadCacheMiddleware, cache=cache)
    app.add_middleware(MethodsMiddleware)  # HEAD runs the GET, fast path included
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if limiter is not None:  # inside CORS: preflights never count, refusals carry CORS
        from app.ratelimit.middleware import RateLimitMiddleware

        app.add_middleware(RateLimitMiddleware, limiter=limiter, tokens=app.state.tokens)
    install_cors(app, settings)  # outside the fast path: preflights never reach it
    app.add_middleware(RequestContextMiddleware, traced=tracing is not None)
    if tracing is not None:
        tracing.instrument(app)  # outermost: the fast paths get their spans too
    return app
