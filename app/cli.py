"""The `trackr` command: local cluster, migrations, seed data, tokens and the server."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from app.backup.cli import backup_app
from app.cli_common import DEV_SECRET_FILE, ClusterDir, dev_secret, existing_secret, fail
from app.cluster_cli import cluster_app, cluster_up, open_cluster, stop_cluster
from app.monitor.cli import monitor_app

app = typer.Typer(
    help="trackr: multi-category price tracking on a replicated PostgreSQL.", no_args_is_help=True
)
db_app = typer.Typer(help="Schema migrations (always against the primary).", no_args_is_help=True)
token_app = typer.Typer(help="JWT bearer tokens for writes.", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(monitor_app, name="monitor")
app.add_typer(backup_app, name="backup")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _alembic_config(database_url: str | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    url = database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise fail("DATABASE_URL is not set: point it at the primary")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default head)."""
    from alembic import command

    command.upgrade(_alembic_config(), revision)


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Roll migrations back to REVISION (e.g. -1 or base)."""
    from alembic import command

    command.downgrade(_alembic_config(), revision)


@db_app.command("current")
def db_current() -> None:
    """Show the database's current revision."""
    from alembic import command

    command.current(_alembic_config())


@app.command("seed")
def seed_command() -> None:
    """Insert the demo catalogue if the products table is empty."""
    typer.echo(f"seeded {asyncio.run(_seed())} products")


async def _seed() -> int:
    from app.db.engines import create_engine
    from app.seed import seed

    url = os.environ.get("DATABASE_URL")
    if not url:
        raise fail("DATABASE_URL is not set: point it at the primary")
    engine = create_engine(url, application_name="trackr-seed")
    try:
        return await seed(engine)
    finally:
        await engine.dispose()


_TTL = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    match = _TTL.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise typer.BadParameter("use a positive number with s, m, h or d, e.g. 1h")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _sign(secret: str, scopes: list[str], ttl_seconds: int, subject: str) -> str:
    from app.auth import create_token
    from app.config import Settings

    settings = Settings(jwt_secret=secret, app_env="development")
    return create_token(settings, scopes, ttl_seconds, subject)


def settings_errors(exc: Any) -> str:
    """A settings ValidationError as `VARIABLE: why` lines (never the refused value)."""
    lines = []
    for error in exc.errors():
        where = "_".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


@token_app.command("create")
def token_create(
    scope: Annotated[list[str], typer.Option(help="Scope to grant (repeatable)")],
    ttl: Annotated[str, typer.Option(help="Lifetime: 30m, 1h, 7d")] = "1h",
    subject: Annotated[str, typer.Option(help="The `sub` claim")] = "trackr-cli",
) -> None:
    """Print a signed JWT (uses JWT_SECRET; in development the `make run` dev secret)."""
    secret = existing_secret()
    if not secret:
        raise fail(
            f"JWT_SECRET is not set, and no dev secret ({DEV_SECRET_FILE}) was found in "
            f"{Path.cwd()} or any folder above it: set JWT_SECRET, or run `make run` once in "
            "the project (it creates one)"
        )
    scopes = [s for item in scope for s in item.split()]
    typer.echo(_sign(secret, scopes, parse_ttl(ttl), subject))


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default HOST or 0.0.0.0)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT or 8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="Default WEB_CONCURRENCY or 1")] = None,
) -> None:
    """Production entry point: uvicorn with graceful shutdown and proxy headers."""
    from functools import partial

    import uvicorn
    from pydantic import ValidationError

    from app.config import ServeSettings, Settings
    from app.http_limits import HttpLimits, LimitedHttpToolsProtocol

    try:
        options = ServeSettings()
        Settings()  # refused here, in plain words, rather than as a traceback in each worker
    except ValidationError as exc:
        raise fail(f"invalid settings: {settings_errors(exc)}") from None
    worker_count = workers or options.web_concurrency
    if worker_count > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers share metrics through files (prometheus-client multiprocess mode).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="trackr-metrics-")
    limits = HttpLimits(
        head_timeout_seconds=options.request_head_timeout_seconds,
        first_byte_timeout_seconds=options.first_byte_timeout_seconds,
        max_header_bytes=options.max_header_bytes,
        max_header_count=options.max_header_count,
        max_connections=options.max_connections,
    )
    uvicorn.run(
        "app.asgi:app",
        host=host or options.host,
        port=port or options.port,
        workers=worker_count,
        proxy_headers=True,
        forwarded_allow_ips=options.forwarded_allow_ips,
        timeout_graceful_shutdown=options.graceful_shutdown_seconds,
        timeout_keep_alive=options.keep_alive_timeout_seconds,
        log_config=None,
        access_log=False,
        server_header=False,  # no software banner
        http=partial(LimitedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
    )


@app.command("dev")
def dev(
    replicas: Annotated[int, typer.Option(min=0, max=8)] = 1,
    directory: ClusterDir = Path(".data/cluster"),
    port: Annotated[int, typer.Option(envvar="PORT")] = 8000,
    keep_cluster: Annotated[
        bool, typer.Option(help="Leave the cluster running when the server stops")
    ] = False,
) -> None:
    """Everything `make run` does: cluster up, migrate, seed, print a dev token, serve."""
    cluster_up(replicas=replicas, directory=directory)
    env = open_cluster(directory).env()
    os.environ.update(env)
    from alembic import command

    command.upgrade(_alembic_config(env["DATABASE_URL"]), "head")
    typer.echo(f"seeded {asyncio.run(_seed())} products (0 means the data was already there)")
    if "JWT_SECRET" not in os.environ:
        os.environ["JWT_SECRET"] = dev_secret()
        typer.secho(
            f"JWT_SECRET not set: using a generated dev secret ({DEV_SECRET_FILE})",
            fg=typer.colors.YELLOW,
        )
    os.environ.setdefault("APP_ENV", "development")
    os.environ.setdefault("LOG_FORMAT", "console")
    write_token = _sign(os.environ["JWT_SECRET"], ["products:write"], 12 * 3600, "dev")
    base = f"http://127.0.0.1:{port}"
    typer.secho(
        f"\n  API:   {base}/api/products\n  Docs:  {base}/docs\n  Health: {base}/health\n"
        f"  Write token (12h): {write_token}\n",
        fg=typer.colors.GREEN,
    )
    try:
        serve(host="127.0.0.1", port=port, workers=1)
    finally:
        if not keep_cluster:
            stop_cluster(directory)
            typer.echo("cluster stopped (data kept in .data/cluster; `make run` resumes it)")


def main() -> None:
    app()
