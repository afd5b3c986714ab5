"""`trackr monitor`: the status dashboard, and `trackr monitor test-alert`."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from app.monitor.config import ConfigError, MonitorSettings, load_settings, parse_backend_flag

monitor_app = typer.Typer(
    help="Status dashboard for several trackr backends: health, uptime, drift, alerts.",
    invoke_without_command=True,
)

ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="MONITOR_CONFIG", help="TOML file (see README)"),
]
Backends = Annotated[
    list[str] | None,
    typer.Option("--backend", "-b", help="NAME=URL, repeatable (replaces the file's list)"),
]


def _settings(config: Path | None, **flags: object) -> MonitorSettings:
    try:
        return load_settings(config, **flags)
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def _configure_logging() -> None:
    from app.logs import configure_logging
    from app.tracing import tracing_requested

    level = os.environ.get("LOG_LEVEL", "INFO")
    configure_logging(level, os.environ.get("LOG_FORMAT", "json"), traced=tracing_requested())
    if level.upper() != "DEBUG":  # httpx logs every probe's request at INFO: debug detail here
        logging.getLogger("httpx").setLevel(logging.WARNING)


@monitor_app.callback()
def monitor(
    ctx: typer.Context,
    config: ConfigFile = None,
    backend: Backends = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8090)")] = None,
    interval: Annotated[float | None, typer.Option(help="Seconds between checks")] = None,
    failures: Annotated[
        int | None, typer.Option(help="Consecutive failed checks before 'down' (default 3)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Where checks are kept (default a SQLite file)")
    ] = None,
) -> None:
    """Poll every backend and serve the dashboard, its JSON API and /metrics."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings(
        config,
        backends=[parse_backend_flag(b) for b in backend or []],
        host=host,
        port=port,
        interval_seconds=interval,
        failures_before_down=failures,
        database_url=database_url,
    )
    if not settings.backends:
        typer.secho(
            "error: no backends: pass --backend NAME=URL or a --config file",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    import uvicorn

    from app.monitor.runner import Monitor
    from app.monitor.web import create_monitor_app

    _configure_logging()
    typer.echo(
        f"trackr monitor: {len(settings.backends)} backends every {settings.interval_seconds} s "
        f"on http://{settings.host}:{settings.port}/"
    )
    tracer_provider = _tracer_provider()
    try:
        uvicorn.run(
            create_monitor_app(Monitor(settings, tracer_provider)),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
        )
    finally:
        if tracer_provider is not None:
            tracer_provider.shutdown()


def _tracer_provider() -> Any:
    """Traces of the rounds and probes when the OTEL_* environment asks (as `trackr serve`)."""
    from app.tracing import otlp_processor, provider, tracing_requested

    if not tracing_requested():
        return None
    traced = provider(requests_only=False, service="trackr-monitor")
    traced.add_span_processor(otlp_processor())
    return traced


@monitor_app.command("test-alert")
def send_test_alert(
    config: ConfigFile = None,
    webhook: Annotated[
        list[str] | None, typer.Option(help="A generic JSON webhook URL, repeatable")
    ] = None,
) -> None:
    """Send a test notification to every configured webhook; exit 1 if one failed."""
    from app.monitor.alerts import Alert, Dispatcher

    webhooks = [{"kind": "generic", "url": url} for url in webhook or []]
    settings = _settings(config, webhooks=webhooks)
    if not settings.webhooks:
        typer.secho("error: no webhooks configured", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    dispatcher = Dispatcher(
        settings.webhooks, settings.alert_attempts, settings.alert_backoff_seconds
    )
    alert = Alert("test", "monitor", "if you can read this, alerts reach you", time.time())

    async def send() -> list[bool]:
        try:
            return await dispatcher.send_now(alert)
        finally:
            await dispatcher.close()

    results = asyncio.run(send())
    for hook, ok in zip(settings.webhooks, results, strict=True):
        typer.echo(f"{'delivered' if ok else 'FAILED':9}  {hook.label}")
    if not all(results):
        raise typer.Exit(1)
