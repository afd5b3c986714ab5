"""The `trackr` command: local cluster, migrations, seed data, tokens and the server."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from app.monitor.cli import monitor_app

app = typer.Typer(
    help="trackr: multi-category price tracking on a replicated PostgreSQL.", no_args_is_help=True
)
cluster_app = typer.Typer(
    help="A local primary + streaming replicas from PostgreSQL binaries.", no_args_is_help=True
)
db_app = typer.Typer(help="Schema migrations (always against the primary).", no_args_is_help=True)
token_app = typer.Typer(help="JWT bearer tokens for writes.", no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(monitor_app, name="monitor")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET_FILE = Path(".data/dev-jwt-secret")
ClusterDir = Annotated[
    Path, typer.Option("--dir", envvar="TRACKR_CLUSTER_DIR", help="Cluster data directory")
]


def _cluster(directory: Path):  # type: ignore[no-untyped-def]
    """The cluster kept in `directory`: an HA one if `up --ha` made it, else the plain one."""
    from app.localcluster import Cluster
    from app.localcluster.ha import HaCluster

    ha = HaCluster(directory)
    return ha if ha.exists else Cluster(directory)


def _ha_cluster(directory: Path):  # type: ignore[no-untyped-def]
    from app.localcluster.ha import HaCluster

    cluster = HaCluster(directory)
    if not cluster.exists:
        raise _fail(f"no HA cluster at {directory}; run `trackr cluster up --ha` first")
    return cluster


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def _cluster_errors() -> tuple[type[Exception], ...]:
    from app.localcluster import ClusterError
    from app.localcluster.binaries import BinariesNotFoundError
    from app.localcluster.etcd import EtcdNotFoundError

    return ClusterError, BinariesNotFoundError, EtcdNotFoundError, RuntimeError


@cluster_app.command("up")
def cluster_up(
    replicas: Annotated[int, typer.Option(min=0, max=8, help="Streaming replicas")] = 1,
    directory: ClusterDir = Path(".data/cluster"),
    ha: Annotated[
        bool, typer.Option("--ha", help="etcd + Patroni nodes with automatic failover")
    ] = False,
    nodes: Annotated[int, typer.Option(min=2, max=3, help="Patroni nodes (with --ha)")] = 2,
) -> None:
    """Start (creating if needed) a primary and N streaming replicas on free loopback ports."""
    from app.localcluster.ha import HaCluster

    cluster = HaCluster(directory) if ha else _cluster(directory)
    try:
        typer.echo(f"PostgreSQL: {cluster.describe_binaries()}")
        if isinstance(cluster, HaCluster):
            cluster.up(nodes)
        else:
            cluster.up(replicas)
        lines = cluster.status_lines()
    except _cluster_errors() as exc:
        raise _fail(str(exc)) from exc
    for line in lines:
        typer.echo(line)


@cluster_app.command("status")
def cluster_status(directory: ClusterDir = Path(".data/cluster")) -> None:
    """Each node's role, port, state and replay lag (and timeline, on an HA cluster)."""
    try:
        lines = _cluster(directory).status_lines()
    except _cluster_errors() as exc:
        raise _fail(str(exc)) from exc
    for line in lines:
        typer.echo(line)


@cluster_app.command("down")
def cluster_down(directory: ClusterDir = Path(".data/cluster")) -> None:
    """Stop every node cleanly (replicas first); data is kept."""
    _cluster(directory).down()
    typer.echo("cluster stopped")


@cluster_app.command("env")
def cluster_env(directory: ClusterDir = Path(".data/cluster")) -> None:
    """Print DATABASE_URL and DATABASE_REPLICA_URLS for the shell: export $(trackr cluster env)."""
    try:
        env = _cluster(directory).env()
    except _cluster_errors() as exc:
        raise _fail(str(exc)) from exc
    for key, value in env.items():
        typer.echo(f"{key}={value}")


@cluster_app.command("switchover")
def cluster_switchover(
    directory: ClusterDir = Path(".data/cluster"),
    candidate: Annotated[
        str | None, typer.Option(help="Node to promote (default: a streaming sync standby)")
    ] = None,
) -> None:
    """HA cluster: hand leadership to a replica through Patroni's REST API, cleanly."""
    cluster = _ha_cluster(directory)
    try:
        old = cluster.leader()
        new = cluster.switchover(candidate)
    except _cluster_errors() as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"switched over: {old.name if old else '?'} -> {new.name}")


@cluster_app.command("kill-leader")
def cluster_kill_leader(
    directory: ClusterDir = Path(".data/cluster"),
    wait: Annotated[bool, typer.Option(help="Wait until Patroni promotes a new leader")] = True,
) -> None:
    """HA cluster drill: SIGKILL the leader's Patroni, postmaster and children at once."""
    import time

    cluster = _ha_cluster(directory)
    try:
        started = time.monotonic()
        old, pids = cluster.kill_leader()
        typer.echo(f"killed {old.name} (pids {' '.join(map(str, pids))})")
        if wait:
            new = cluster.wait_for_leader(90, not_named=old.name)
            typer.echo(f"new leader: {new.name} after {time.monotonic() - started:.1f}s")
    except _cluster_errors() as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"`trackr cluster up --ha --dir {directory}` brings {old.name} back (pg_rewind)")


def _alembic_config(database_url: str | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    url = database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise _fail("DATABASE_URL is not set: point it at the primary")
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
        raise _fail("DATABASE_URL is not set: point it at the primary")
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


def find_dev_secret(start: Path | None = None) -> Path | None:
    """The `make run` dev secret (.data/dev-jwt-secret) of this folder or the nearest parent
    that has one, as git finds .git: `trackr token create` works from any folder of the
    project."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (candidate := folder / DEV_SECRET_FILE).is_file():
            return candidate
    return None


def _existing_secret() -> str | None:
    """JWT_SECRET from the environment always wins; else the `make run` dev secret, if any."""
    if secret := os.environ.get("JWT_SECRET"):
        return secret
    found = find_dev_secret()
    return found.read_text().strip() if found is not None else None


def _dev_secret() -> str:
    """The existing secret, or a new persistent dev-only one."""
    if secret := _existing_secret():
        return secret
    DEV_SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    DEV_SECRET_FILE.write_text(secret)
    DEV_SECRET_FILE.chmod(0o600)
    return secret


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
    secret = _existing_secret()
    if not secret:
        raise _fail(
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
        raise _fail(f"invalid settings: {settings_errors(exc)}") from None
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
    env = _cluster(directory).env()
    os.environ.update(env)
    from alembic import command

    command.upgrade(_alembic_config(env["DATABASE_URL"]), "head")
    typer.echo(f"seeded {asyncio.run(_seed())} products (0 means the data was already there)")
    if "JWT_SECRET" not in os.environ:
        os.environ["JWT_SECRET"] = _dev_secret()
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
            _cluster(directory).down()
            typer.echo("cluster stopped (data kept in .data/cluster; `make run` resumes it)")


def main() -> None:
    app()
