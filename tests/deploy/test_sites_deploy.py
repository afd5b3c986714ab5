"""deploy/sites: the platform files of the three-sites topology agree with each other and with
the image, and the scripts they run (which the local simulation also runs) reject what
would break a site. No Docker engine or provider here: files are checked, scripts are run."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SITES = ROOT / "deploy" / "sites"
BIN = SITES / "bin"
VOLUME = "/var/lib/trackr-site"
SCRIPTS_IN_IMAGE = "/usr/local/lib/trackr-site/"
DOCTRINE = ["render", "railway", "fly"]  # active, warm, cold
SECRET_KEYS = (
    "TS_AUTHKEY",
    "PATRONI_SUPERUSER_PASSWORD",
    "PATRONI_REPLICATION_PASSWORD",
    "PATRONI_REWIND_PASSWORD",
    "TRACKR_DB_PASSWORD",
    "JWT_SECRET",
)


def shared_env() -> dict[str, str]:
    lines = (SITES / "sites.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def fly() -> dict[str, Any]:
    return tomllib.loads((SITES / "fly.toml").read_text())


def render() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SITES / "render.yaml").read_text())
    return data


def railway(role: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SITES / f"railway-{role}.json").read_text())
    return data


def render_group() -> dict[str, str]:
    (group,) = render()["envVarGroups"]
    return {item["key"]: item["value"] for item in group["envVars"]}


def render_service(kind: str) -> dict[str, Any]:
    services: list[dict[str, Any]] = render()["services"]
    (service,) = [s for s in services if s["type"] == kind]
    return service


def parse_map(value: str) -> list[tuple[str, str, list[int]]]:
    sites = []
    for entry in value.split(","):
        name, address = entry.split("=")
        host, *ports = address.split(":")
        sites.append((name, host, [int(port) for port in ports]))
    return sites


def run_script(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    scripts = sorted(str(path) for path in (ROOT / "deploy").rglob("*.sh"))
    result = subprocess.run(
        [shellcheck, "-x", *scripts], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout


def test_every_platform_carries_the_same_map_in_the_doctrines_order() -> None:
    shared = shared_env()
    assert fly()["env"]["TRACKR_SITE_MAP"] == shared["TRACKR_SITE_MAP"]
    assert render_group()["TRACKR_SITE_MAP"] == shared["TRACKR_SITE_MAP"]
    assert [name for name, _, _ in parse_map(shared["TRACKR_SITE_MAP"])] == DOCTRINE
    assert fly()["env"]["TRACKR_SITE"] == "fly"
    assert render_group()["TRACKR_SITE"] == "render"


def test_the_map_gives_each_site_its_own_loopback_address_and_ports() -> None:
    """On the mesh every container forwards the other sites' ports on their addresses: two
    sites on one port would collide in every container."""
    sites = parse_map(shared_env()["TRACKR_SITE_MAP"])
    hosts = [host for _, host, _ in sites]
    ports = [port for _, _, site_ports in sites for port in site_ports]
    assert all(host.startswith("127.") and host != "127.0.0.1" for host in hosts), hosts
    assert len(set(hosts)) == len(hosts)
    assert len(set(ports)) == len(ports)
    assert all(len(p) == 4 for _, _, p in sites)


def test_every_service_builds_the_site_variant_of_the_one_image() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM runtime AS variant-site" in dockerfile
    assert dockerfile.rstrip().endswith("FROM variant-${TRACKR_IMAGE_VARIANT}")
    assert "ARG TRACKR_IMAGE_VARIANT=api" in dockerfile  # the plain API by default
    assert shared_env()["TRACKR_IMAGE_VARIANT"] == "site"
    assert fly()["build"]["args"]["TRACKR_IMAGE_VARIANT"] == "site"
    assert render_group()["TRACKR_IMAGE_VARIANT"] == "site"
    for service in render()["services"]:
        assert service["runtime"] == "docker"
        assert service["dockerfilePath"] == "./Dockerfile"
        assert {"fromGroup": "trackr-site-render"} in service["envVars"]
    for role in ("node", "api"):
        assert railway(role)["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}


def test_the_image_copies_what_the_site_runs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    site = dockerfile.split("FROM runtime AS variant-site")[1]
    assert f"COPY deploy/sites/bin/ {SCRIPTS_IN_IMAGE}" in site
    assert "COPY deploy/sites/patroni.yml deploy/sites/supervisord-*.conf /etc/trackr-site/" in site
    hook = yaml.safe_load((SITES / "patroni.yml").read_text())["bootstrap"]["post_bootstrap"]
    assert f"COPY deploy/patroni/post-bootstrap.sh {hook}" in site
    for package in ("postgresql-${POSTGRES_MAJOR}", "etcd-server", "socat", "supervisor"):
        assert package in site
    assert "tailscale" in site
    assert "patroni[etcd3" in site
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "!deploy/sites/" in ignored
    assert "!deploy/patroni/post-bootstrap.sh" in ignored


def commands() -> list[str]:
    """Every command line the platform files and supervisord run."""
    found = [*fly()["processes"].values(), fly()["deploy"]["release_command"]]
    for service in render()["services"]:
        found += [service["dockerCommand"], service.get("preDeployCommand", "")]
    for role in ("node", "api"):
        deploy = railway(role)["deploy"]
        found += [deploy["startCommand"], *deploy.get("preDeployCommand", [])]
    for conf in SITES.glob("supervisord-*.conf"):
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(conf)
        found += [parser[s]["command"] for s in parser.sections() if "command" in parser[s]]
    return [command for command in found if command]


def test_every_command_runs_a_script_the_image_has() -> None:
    roles = set()
    for command in commands():
        program, *args = command.split()
        assert program.startswith(SCRIPTS_IN_IMAGE), command
        script = BIN / program.removeprefix(SCRIPTS_IN_IMAGE)
        assert os.access(script, os.X_OK), command
        if script.name == "site-start.sh":
            roles.update(args)
    assert roles == {"node", "api", "migrate"}
    includes = re.findall(r"^files = (\S+)$", (SITES / "supervisord-node.conf").read_text(), re.M)
    assert [Path(p).name for p in includes] == ["supervisord-common.conf"]


def test_each_node_keeps_its_data_on_a_volume() -> None:
    settings = yaml.safe_load((SITES / "patroni.yml").read_text())
    assert settings["postgresql"]["data_dir"].startswith(VOLUME + "/")
    assert f"ETCD_DATA_DIR:-{VOLUME}/etcd" in (BIN / "site-etcd.sh").read_text()
    assert f"TS_STATE_DIR:-{VOLUME}/tailscale" in (BIN / "site-mesh.sh").read_text()
    (mount,) = fly()["mounts"]
    assert mount["destination"] == VOLUME
    assert mount["processes"] == ["node"]
    node = render_service("pserv")
    assert node["disk"]["mountPath"] == VOLUME
    assert node["numInstances"] == 1
    assert railway("node")["deploy"]["numReplicas"] == 1
    # Railway volumes are attached outside railway.json: the runbook does it.
    readme = (ROOT / "deploy" / "README.md").read_text()
    assert f"railway volume add --mount-path {VOLUME}" in readme


def test_providers_let_patroni_stop_cleanly() -> None:
    """Patroni hands leadership over on SIGTERM; a provider that kills it sooner turns a
    planned restart into a failover."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SITES / "supervisord-node.conf")
    patroni_stop = int(parser["program:patroni"]["stopwaitsecs"])
    assert int(fly()["kill_timeout"].removesuffix("s")) > patroni_stop
    assert render_service("pserv")["maxShutdownDelaySeconds"] > patroni_stop
    assert railway("node")["deploy"]["drainingSeconds"] > patroni_stop


def test_secrets_are_asked_for_never_written() -> None:
    assert not set(SECRET_KEYS) & set(fly()["env"])
    assert not set(SECRET_KEYS) & set(shared_env())
    for service in render()["services"]:
        for item in service["envVars"]:
            if item.get("key") in SECRET_KEYS:
                assert item == {"key": item["key"], "sync": False}, item
    api = {item.get("key") for item in render_service("web")["envVars"]}
    assert {"JWT_SECRET", "TRACKR_DB_PASSWORD", "TS_AUTHKEY"} <= api


def production_env(site: str) -> dict[str, str]:
    return {"TRACKR_SITE": site, "TRACKR_SITE_MAP": shared_env()["TRACKR_SITE_MAP"]}


@pytest.mark.parametrize("site", DOCTRINE)
def test_each_sites_api_tries_its_own_node_first(site: str) -> None:
    env = {**production_env(site), "TRACKR_DB_PASSWORD": "p@ss/w:rd"}
    result = run_script("site-api.sh", env, "--print-env")
    assert result.returncode == 0, result.stderr
    printed = dict(line.split("=", 1) for line in result.stdout.splitlines())
    sites = {name: (host, ports) for name, host, ports in parse_map(env["TRACKR_SITE_MAP"])}
    order = [site, *(name for name in DOCTRINE if name != site)]
    hosts = ",".join(f"{sites[n][0]}:{sites[n][1][0]}" for n in order)
    assert printed["DATABASE_URL"] == (
        f"postgresql://trackr:p%40ss%2Fw%3Ard@{hosts}/trackr?target_session_attrs=read-write"
    )
    assert printed["PATRONI_URLS"] == ",".join(
        f"http://{sites[n][0]}:{sites[n][1][1]}" for n in order
    )
    assert printed["TRACKR_SITE"] == site
    assert printed["READ_BALANCING"] == "nearest"


@pytest.mark.parametrize(
    ("site_map", "site", "says"),
    [
        ("", "render", "TRACKR_SITE_MAP must list the sites"),
        ("render=127.0.1.1:5441:8041:2441:2541", "render", "a quorum needs 3"),
        ("render=h:1:2:3:4,fly=h:1:2:3", "render", "needs a host and 4 ports"),
        ("render=h:1:2:3:4,fly=h:1:2:3:x", "render", "'x' is not a port"),
        ("render=h:1:2:3:4,render=h:5:6:7:8", "render", "names render twice"),
        ("Render=h:1:2:3:4,fly=h:5:6:7:8", "fly", "is not name=host"),
        ("render=h:1:2:3:4,fly=h:5:6:7:8", "railway", "TRACKR_SITE=railway is not in"),
    ],
)
def test_a_bad_map_is_refused_with_a_clear_error(site_map: str, site: str, says: str) -> None:
    env = {"TRACKR_SITE_MAP": site_map, "TRACKR_SITE": site, "TRACKR_DB_PASSWORD": "x"}
    for script in ("site-api.sh", "site-etcd.sh", "site-patroni.sh"):
        result = run_script(script, env, "--print-env")
        assert result.returncode == 64, (script, result.stderr)
        assert says in result.stderr, (script, result.stderr)


def test_the_mesh_refuses_a_map_it_cannot_forward() -> None:
    base = {"TRACKR_SITE": "render", "TS_AUTHKEY": "tskey-unused"}
    outside = "render=10.0.0.1:5441:8041:2441:2541,fly=127.0.1.3:5443:8043:2443:2543"
    result = run_script("site-mesh.sh", {**base, "TRACKR_SITE_MAP": outside})
    assert result.returncode == 64
    assert "loopback address" in result.stderr
    shared = "render=127.0.1.1:5441:8041:2441:2541,fly=127.0.1.3:5441:8043:2443:2543"
    result = run_script("site-mesh.sh", {**base, "TRACKR_SITE_MAP": shared})
    assert result.returncode == 64
    assert "port 5441 is in TRACKR_SITE_MAP twice" in result.stderr


@pytest.mark.parametrize("site", DOCTRINE)
def test_each_nodes_patroni_config_passes_patronis_own_validation(
    site: str, tmp_path: Path
) -> None:
    """The merged directory, through `patroni --validate-config`. Only what this machine
    lacks may fail: the other sites' etcd (nothing listens here) and PostgreSQL's binaries
    at the image's path."""
    env = {
        **production_env(site),
        "PATRONI_SUPERUSER_PASSWORD": "a",
        "PATRONI_REPLICATION_PASSWORD": "b",
        "PATRONI_REWIND_PASSWORD": "c",
        "TRACKR_PATRONI_CONFIG": str(SITES / "patroni.yml"),
        "PATRONI_CONFIG_DIR": str(tmp_path),
        "PATRONI_COMMAND": f"{sys.executable} -m patroni --validate-config",
    }
    result = run_script("site-patroni.sh", env)
    failed = {line.split()[0] for line in (result.stdout + result.stderr).splitlines() if line}
    assert failed <= {"etcd3.hosts", "postgresql.bin_dir"}, result.stdout + result.stderr
    merged: dict[str, Any] = {}
    for part in sorted(tmp_path.glob("*.yml")):
        for key, value in yaml.safe_load(part.read_text()).items():
            merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    assert merged["name"] == site
    assert merged["tags"]["site"] == site
    assert merged["tags"]["failover_priority"] == len(DOCTRINE) - DOCTRINE.index(site)
    assert "nofailover" not in merged["tags"]
