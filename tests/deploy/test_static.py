"""Static checks of the deployment files (no Docker engine here): they fail on real mistakes."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SECRETS = (
    "POSTGRES_PASSWORD",
    "TRACKR_DB_PASSWORD",
    "REPLICATION_PASSWORD",
    "JWT_SECRET",
    "PATRONI_SUPERUSER_PASSWORD",
    "PATRONI_REWIND_PASSWORD",
)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def runtime_stage(dockerfile: str) -> str:
    """The API's stage: what the default variant (`api`) is, unchanged."""
    return dockerfile.split(" AS runtime\n")[1].split("\nFROM ")[0]


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_config_is_valid() -> None:
    result = subprocess.run(["haproxy", "-c", "-f", str(DEPLOY / "haproxy" / "haproxy.cfg")],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    config = "\n".join(line.split("#")[0] for line in text.splitlines())
    needed = ["option httpchk", "uri /health/ready", "http-check expect status 200",
              "option redispatch", "retries", "inter ", "fall ", "rise ",
              # the bounds trackr serve enforces too (README: REQUEST_HEAD_TIMEOUT_SECONDS…)
              "timeout http-request 10s", "tune.bufsize 16384", "tune.http.maxhdr 100"]  # fmt: skip
    for directive in needed:
        assert directive in config, directive
    # A draining node keeps its in-flight requests (see the comment in the config).
    assert "shutdown-sessions" not in config.split("backend trackr_api")[1]


def test_compose_services_health_checks_and_order() -> None:
    services = compose()["services"]
    assert {"postgres-primary", "postgres-replica", "migrate", "api-a", "api-b", "haproxy"} <= set(
        services
    )
    one_shots = {"migrate", "migrate-ha", "wal-archive-init"}
    for name, service in services.items():
        if name not in one_shots:
            assert "healthcheck" in service, f"{name} has no health check"
    depends = {name: service.get("depends_on", {}) for name, service in services.items()}
    assert depends["postgres-replica"]["postgres-primary"]["condition"] == "service_healthy"
    assert depends["migrate"]["postgres-primary"]["condition"] == "service_healthy"
    for api in ("api-a", "api-b"):
        assert depends[api]["migrate"]["condition"] == "service_completed_successfully"
        assert depends[api]["postgres-replica"]["condition"] == "service_healthy"
        assert depends["haproxy"][api]["condition"] == "service_healthy"
        env = services[api]["environment"]
        assert "postgres-primary" in env["DATABASE_URL"]
        assert "postgres-replica" in env["DATABASE_REPLICA_URLS"]
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert (
        services["postgres-primary"]["image"]
        == services["postgres-replica"]["image"]
        == ("postgres:16")
    )


def test_compose_mounts_the_scripts_and_config() -> None:
    services = compose()["services"]
    primary = " ".join(services["postgres-primary"]["volumes"])
    assert "./deploy/postgres/primary-init.sh:/docker-entrypoint-initdb.d/" in primary
    replica = services["postgres-replica"]
    assert "./deploy/postgres/replica-entrypoint.sh:" + replica["entrypoint"][0] in " ".join(
        replica["volumes"]
    )
    assert replica["user"] == "postgres"
    assert any("haproxy.cfg" in v for v in services["haproxy"]["volumes"])
    for path in ("deploy/postgres/primary-init.sh", "deploy/postgres/replica-entrypoint.sh",
                 "deploy/haproxy/haproxy.cfg"):  # fmt: skip
        assert (ROOT / path).exists(), path


def test_compose_secrets_have_no_working_defaults() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in SECRETS:
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses, f"{secret} is not used"
        assert any(u.startswith(":?") for u in uses), f"{secret} must be required (${{X:?…}})"
        assert not any(u.startswith((":-", "-")) for u in uses), f"{secret} has a default"
    example = (ROOT / ".env.example").read_text()
    for variable in set(re.findall(r"\$\{([A-Z0-9_]+)", text)):
        assert re.search(rf"^{variable}=", example, re.M), f"{variable} missing in .env.example"
    for secret in SECRETS:
        value = re.search(rf"^{secret}=(.*)$", example, re.M)
        assert value is not None
        assert value.group(1) in {"", "CHANGE_ME"}, f"{secret} has a working value in .env.example"


def test_dockerfile() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("\nFROM ") + dockerfile.startswith("FROM") >= 2, "multi-stage"
    assert "uv sync --frozen" in dockerfile
    assert "--no-default-groups" in dockerfile  # no dev tools, no local PostgreSQL
    assert re.search(r"PYTHON_VERSION=3\.1[2-9]", dockerfile)
    # Precompiled bytecode for dependencies and the (editable) project: the cold start.
    assert "UV_COMPILE_BYTECODE=1" in dockerfile
    assert re.search(r"^RUN \S*python -m compileall .*\bapp\b", dockerfile, re.M)
    runtime = runtime_stage(dockerfile)
    assert "FROM runtime AS variant-api\n\nFROM" in dockerfile, "the default adds nothing"
    user = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert user, "the runtime stage must switch to a user"
    assert user[-1] not in {"root", "0"}
    cmd = re.search(r"^CMD\s+(.+)$", runtime, re.M)
    assert cmd is not None
    assert json.loads(cmd.group(1)) == ["trackr", "serve"], "exec form"
    health = re.search(r"^HEALTHCHECK .*\n?.*CMD\s+(\[.+\])", runtime, re.M)
    assert health is not None
    assert "/health/live" in health.group(1)
    assert "curl" not in health.group(1)
    json.loads(health.group(1))
    assert "STOPSIGNAL SIGTERM" in runtime
    assert "alembic upgrade" not in runtime, "migrations are a separate step"
    # barman as a tool in its own virtualenv, from the hashed pins `make backup-deps` uses.
    assert "COPY deploy/backup/barman-requirements.txt" in runtime
    assert "--require-hashes" in runtime
    assert "TRACKR_BARMAN=/opt/barman/bin/barman" in runtime
    assert "install -d -o trackr -g trackr /backups" in runtime  # a named volume inherits it


def test_dockerignore_keeps_the_image_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[0 if lines[0] == "*" else lines.index("*")] == "*", "allow-list: ignore all first"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {
        "pyproject.toml", "uv.lock", "README.md", "alembic.ini", "alembic", "app",
        "deploy/sites", "deploy/patroni/post-bootstrap.sh",  # the `site` variant's
        "deploy/backup/barman-requirements.txt",  # barman, for the physical backups
    }  # fmt: skip


def test_render_blueprint() -> None:
    blueprint = yaml.safe_load((DEPLOY / "render.yaml").read_text())
    (web,) = [s for s in blueprint["services"] if s["type"] == "web"]
    assert web["runtime"] == "docker"
    assert web["healthCheckPath"].startswith("/health")
    assert web["preDeployCommand"] == "alembic upgrade head"
    env = {item["key"]: item for item in web["envVars"]}
    assert env["DATABASE_URL"]["fromDatabase"]["property"] == "connectionString"
    assert env["JWT_SECRET"].get("generateValue") is True
    replica_source = env["DATABASE_REPLICA_URLS"]["fromDatabase"]["name"]
    (database,) = blueprint["databases"]
    assert env["DATABASE_URL"]["fromDatabase"]["name"] == database["name"]
    assert replica_source in {r["name"] for r in database["readReplicas"]}
    (kv,) = [s for s in blueprint["services"] if s["type"] == "keyvalue"]
    assert kv["ipAllowList"] == []  # the private network only
    assert env["RATE_LIMIT_ENABLED"]["value"] == "true"
    for name in ("RATE_LIMIT_STORAGE_URL", "CACHE_URL"):
        assert env[name]["fromService"] == {
            "type": "keyvalue",
            "name": kv["name"],
            "property": "connectionString",
        }


def test_compose_redis_is_a_helper_not_a_dependency() -> None:
    services = compose()["services"]
    redis = services["redis"]
    assert "--save" in redis["command"]
    assert "redis-cli" in redis["healthcheck"]["test"]
    for name in ("api-a", "api-b"):
        api = services[name]
        assert api["environment"]["RATE_LIMIT_STORAGE_URL"] == "redis://redis:6379/0"
        assert api["environment"]["CACHE_URL"] == "redis://redis:6379/1"
        assert "redis" not in api.get("depends_on", {})
    Settings.model_validate(
        {"app_env": "test", **{k: v for k, v in services["api-a"]["environment"].items()
                               if k.startswith(("RATE_LIMIT", "REDIS", "CACHE"))}}
    )  # fmt: skip


def test_fly_toml() -> None:
    fly = tomllib.loads((DEPLOY / "fly.toml").read_text())
    assert fly["deploy"]["release_command"] == "alembic upgrade head"
    assert fly["deploy"]["strategy"] == "rolling"
    assert fly["kill_signal"] == "SIGTERM"
    service = fly["http_service"]
    assert service["internal_port"] == int(fly["env"]["PORT"])
    assert any(check["path"].startswith("/health") for check in service["checks"])
    assert fly["build"]["dockerfile"] == "Dockerfile"


def test_railway_json() -> None:
    railway = json.loads((DEPLOY / "railway.json").read_text())
    assert railway["build"]["builder"] == "DOCKERFILE"
    deploy = railway["deploy"]
    assert deploy["preDeployCommand"] == ["alembic upgrade head"]
    assert deploy["healthcheckPath"].startswith("/health")
    assert deploy["restartPolicyType"] in {"ON_FAILURE", "ALWAYS"}
    assert deploy["numReplicas"] >= 1


def haproxy_detection_seconds() -> float:
    """Worst time for HAProxy to mark a node down: one `inter`, then `fall - 1` `fastinter`s."""
    config = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    line = next(x for x in config.splitlines() if x.strip().startswith("default-server"))

    def seconds(name: str) -> float:
        match = re.search(rf"\b{name} (\d+)(ms|s)?\b", line)
        assert match is not None, f"{name} missing from: {line}"
        return int(match.group(1)) / (1000 if match.group(2) == "ms" else 1)  # fall: a count

    return seconds("inter") + (seconds("fall") - 1) * seconds("fastinter")


def api_drain_seconds() -> float:
    return float(compose()["x-api"]["environment"]["SHUTDOWN_DRAIN_SECONDS"])


def test_api_nodes_drain_until_haproxy_has_marked_them_down() -> None:
    drain = api_drain_seconds()
    assert drain >= 1.5 * haproxy_detection_seconds(), (drain, haproxy_detection_seconds())
    grace = compose()["x-api"]["stop_grace_period"]
    assert int(grace.removesuffix("s")) >= drain + 20  # + GRACEFUL_SHUTDOWN_SECONDS (default)


# -- profile `ha` -----------------------------------------------------------------------------
HA_SERVICES = {"etcd", "patroni1", "patroni2", "haproxy-db", "migrate-ha", "api-ha-a",
               "api-ha-b", "haproxy-ha"}  # fmt: skip


def test_the_ha_profile_is_separate_from_the_default_stack() -> None:
    services = compose()["services"]
    assert set(services) >= HA_SERVICES
    for name, service in services.items():
        assert (service.get("profiles") == ["ha"]) == (name in HA_SERVICES), name
        for dependency in service.get("depends_on", {}):
            # `docker compose --profile ha up haproxy-ha` starts only the HA stack.
            assert (dependency in HA_SERVICES) == (name in HA_SERVICES), (name, dependency)


def test_ha_api_nodes_use_haproxys_leader_and_replica_ports() -> None:
    services = compose()["services"]
    for name in ("migrate-ha", "api-ha-a", "api-ha-b"):
        env = services[name]["environment"]
        assert "@haproxy-db:5000/" in env["DATABASE_URL"], name
        assert "@haproxy-db:5001/" in env["DATABASE_REPLICA_URLS"], name
    # The HTTP HAProxy config is shared: the HA nodes answer to its server names.
    assert services["api-ha-a"]["networks"]["default"]["aliases"] == ["api-a"]
    assert services["api-ha-b"]["networks"]["default"]["aliases"] == ["api-b"]
    assert services["patroni1"]["build"] == services["patroni2"]["build"] == "./deploy/patroni"


def patroni_haproxy_config() -> str:
    text = (DEPLOY / "patroni" / "haproxy.cfg").read_text()
    return "\n".join(line.split("#")[0].rstrip() for line in text.splitlines())


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_patroni_haproxy_config_routes_by_patronis_rest_api() -> None:
    result = subprocess.run(["haproxy", "-c", "-f", str(DEPLOY / "patroni" / "haproxy.cfg")],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = patroni_haproxy_config()
    primary = config.split("listen primary")[1].split("listen replicas")[0]
    replicas = config.split("listen replicas")[1]
    assert "option httpchk HEAD /primary" in primary
    assert re.search(r"option httpchk HEAD /replica\?lag=\S+", replicas)
    for section in (primary, replicas):
        assert "on-marked-down shutdown-sessions" in section
        servers = re.findall(r"^\s*server (\S+) (\S+) check port 8008$", section, re.M)
        assert servers == [("patroni1", "patroni1:5432"), ("patroni2", "patroni2:5432")]


def test_patroni_image_and_settings_match_the_tested_local_cluster() -> None:
    from app.localcluster.patroni import DCS_SETTINGS

    dockerfile = (DEPLOY / "patroni" / "Dockerfile").read_text()
    assert dockerfile.startswith(("FROM postgres:16", "#"))
    assert "FROM postgres:16" in dockerfile
    assert re.search(r"^USER postgres$", dockerfile, re.M), "PostgreSQL refuses root"
    assert "patroni[etcd3" in dockerfile
    settings = yaml.safe_load((DEPLOY / "patroni" / "patroni.yml").read_text())
    dcs = settings["bootstrap"]["dcs"]
    for key in ("ttl", "loop_wait", "retry_timeout", "synchronous_mode"):
        assert dcs[key] == DCS_SETTINGS[key], key
    assert dcs["postgresql"]["use_pg_rewind"] is True
    assert "data-checksums" in settings["bootstrap"]["initdb"]
    assert {"checkpoint": "fast"} in settings["postgresql"]["basebackup"]
    hook = settings["bootstrap"]["post_bootstrap"]
    assert hook == "/usr/local/bin/post-bootstrap.sh"
    assert f"COPY post-bootstrap.sh {hook}" in dockerfile
    assert (DEPLOY / "patroni" / "post-bootstrap.sh").stat().st_mode & 0o111


def _parses(command_line: str) -> None:
    """A scheduled `trackr …` command line that trackr's own CLI accepts (parsed, not run)."""
    import shlex

    import typer

    from app.cli import app as cli

    words = shlex.split(command_line)
    assert words[0] == "trackr", command_line
    command: Any = typer.main.get_command(cli)
    for index, word in enumerate(words[1:], start=1):
        context = command.make_context(word, [], resilient_parsing=True)
        sub = getattr(command, "get_command", lambda *_: None)(context, word)
        if sub is None:
            command.make_context(words[index - 1], words[index:])  # raises on a bad option
            return
        command = sub
    command.make_context(words[-1], [])


def _backup_jobs(commands: list[str]) -> None:
    """A nightly create and a weekly verify, each with retries; every one parses."""
    assert any(c.startswith("trackr backup create") for c in commands), commands
    assert any(c.startswith("trackr backup verify") for c in commands), commands
    for command in commands:
        assert "--retries" in command, command
        _parses(command)


def test_render_runs_the_backup_jobs_as_cron_jobs() -> None:
    blueprint = yaml.safe_load((DEPLOY / "render.yaml").read_text())
    crons = [s for s in blueprint["services"] if s["type"] == "cron"]
    _backup_jobs([c["dockerCommand"] for c in crons])
    groups = {g["name"]: g for g in blueprint["envVarGroups"]}
    for cron in crons:
        assert cron["runtime"] == "docker"
        assert len(cron["schedule"].split()) == 5
        env = {e.get("key") or e["fromGroup"]: e for e in cron["envVars"]}
        assert env["DATABASE_URL"]["fromDatabase"]["name"] == blueprint["databases"][0]["name"]
        (group,) = [groups[name] for name in env if name in groups]
        keys = {e["key"]: e for e in group["envVars"]}
        assert keys["BACKUP_METHOD"]["value"] == "dump"  # managed PostgreSQL: no WAL archiving
        for secret in ("BACKUP_REPOSITORY", "AWS_SECRET_ACCESS_KEY", "BACKUP_VERIFY_URL"):
            assert keys[secret].get("sync") is False, secret


def test_railway_runs_the_backup_jobs_as_cron_services() -> None:
    configs = [
        json.loads((DEPLOY / f"railway-backup{s}.json").read_text()) for s in ("", "-verify")
    ]
    for config in configs:
        assert config["build"]["builder"] == "DOCKERFILE"
        assert len(config["deploy"]["cronSchedule"].split()) == 5
        assert config["deploy"]["restartPolicyType"] == "NEVER"  # a failed run is reported
    _backup_jobs([c["deploy"]["startCommand"] for c in configs])


def test_fly_creates_the_backup_jobs_as_scheduled_machines() -> None:
    script = (DEPLOY / "fly-backup-schedules.sh").read_text()
    commands = re.findall(r"^  -- (trackr .+)$", script, re.M)
    assert re.findall(r"--schedule (\w+)", script) == ["daily", "weekly"]
    _backup_jobs(commands)
    subprocess.run(
        [str(Path(sys.executable).parent / "shellcheck"), str(DEPLOY / "fly-backup-schedules.sh")],
        check=True,
    )


def test_compose_schedules_the_backup_jobs_in_a_profile() -> None:
    services = compose()["services"]
    backup, scheduler = services["backup"], services["backup-scheduler"]
    assert backup["profiles"] == scheduler["profiles"] == ["backup"]
    labels = backup["labels"]
    jobs = {k.split(".")[2] for k in labels if k.startswith("ofelia.job-exec.")}
    assert jobs == {"backup", "backup-verify"}
    for job in jobs:
        assert len(labels[f"ofelia.job-exec.{job}.schedule"].split()) == 6  # seconds first
        assert labels[f"ofelia.job-exec.{job}.no-overlap"] == "true"
    _backup_jobs([labels[f"ofelia.job-exec.{job}.command"] for job in sorted(jobs)])
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in scheduler["volumes"]
    archive = services["archive"]
    assert archive["profiles"] == ["backup"]
    _parses(shlex.join(archive["command"]))
    base_backup = archive["labels"]["ofelia.job-exec.base-backup.command"]
    assert base_backup.startswith("trackr backup create")
    _parses(base_backup)
    env = archive["environment"]
    assert env["BACKUP_BARMAN_HOME"].startswith("/backups/")
    assert "backups:/backups" in archive["volumes"]
    assert env["BACKUP_STREAMING_URL"].startswith("postgresql://replicator:")
    primary = services["postgres-primary"]["environment"]
    assert backup["environment"]["BACKUP_VERIFY_URL"].endswith("/" + primary["BACKUP_VERIFY_DB"])


def test_compose_observability_profile_mounts_what_the_repository_holds() -> None:
    services = compose()["services"]
    profile = {"monitor", "prometheus", "alertmanager", "grafana"}
    for name in profile:
        assert services[name]["profiles"] == ["observability"], name
        assert "healthcheck" in services[name], name
    mounted = {
        volume.split(":")[0][2:]
        for name in profile
        for volume in services[name].get("volumes", [])
        if volume.startswith("./")
    }
    assert mounted == {
        "deploy/observability/prometheus/prometheus.yml",
        "deploy/observability/prometheus/recording.yml",
        "deploy/observability/prometheus/alerts.yml",
        "deploy/observability/alertmanager/alertmanager.yml",
        "deploy/observability/grafana/provisioning",
        "deploy/observability/grafana/dashboards",
    }
    for path in mounted:
        assert (ROOT / path).exists(), path
    # Prometheus and Grafana answer without a password of their own: never on every address.
    for name in ("prometheus", "grafana"):
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"]), name
    monitor = services["monitor"]["command"]
    assert monitor[:2] == ["trackr", "monitor"]
    config = yaml.safe_load((ROOT / "deploy/observability/prometheus/prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets == {"trackr": ["api-a:8000", "api-b:8000"], "trackr-monitor": ["monitor:8090"]}
    assert {"api-a", "api-b"} <= set(services)
