"""`trackr monitor` settings: TOML file, MONITOR_* environment, flags; clear errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.monitor.config import ConfigError, load_settings, parse_backend_flag
from tests.faults.harness import TRACKR

TOML = """
interval_seconds = 5
failures_before_down = 4

[[backends]]
name = "render"
url = "https://trackr.onrender.com/"

[[backends]]
name = "fly"
url = "https://trackr.fly.dev"

[[webhooks]]
kind = "telegram"
bot_token = "123:abc"
chat_id = "42"
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MONITOR_INTERVAL_SECONDS", "MONITOR_DATABASE_URL", "MONITOR_BACKENDS"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "monitor.toml"
    path.write_text(TOML)
    return path


def test_toml_file_gives_backends_and_webhooks(config_file: Path) -> None:
    settings = load_settings(config_file)
    assert [(b.name, b.url) for b in settings.backends] == [
        ("render", "https://trackr.onrender.com"),
        ("fly", "https://trackr.fly.dev"),
    ]
    assert settings.failures_before_down == 4
    assert settings.webhooks[0].kind == "telegram"
    assert "123:abc" not in repr(settings.webhooks[0])  # the bot token is a secret
    # A data directory of the user's, never the working directory.
    assert settings.database_url.endswith("/trackr/monitor.db")
    assert settings.database_url.startswith("sqlite+aiosqlite:////")


def test_flags_beat_environment_beat_file(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_INTERVAL_SECONDS", "7")
    monkeypatch.setenv("MONITOR_DATABASE_URL", "postgresql://m@db/monitor")
    assert load_settings(config_file).interval_seconds == 7
    assert load_settings(config_file, interval_seconds=9).interval_seconds == 9
    assert load_settings(config_file).database_url == "postgresql+asyncpg://m@db/monitor"
    flags = load_settings(config_file, backends=[parse_backend_flag("local=http://127.0.0.1:1")])
    assert [b.name for b in flags.backends] == ["local"]


def test_backend_flag_without_a_name_is_named_after_its_host() -> None:
    assert parse_backend_flag("https://trackr.fly.dev/") == {
        "name": "trackr.fly.dev",
        "url": "https://trackr.fly.dev/",
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[backends]]\nname = "render"\nurl = "https://x"\n', "must be unique"),
        ('[[backends]]\nname = "x y"\nurl = "https://x"\n', "backends.2.name"),
        ('[[backends]]\nname = "ok"\nurl = "ftp://x"\n', "http:// or https://"),
        ('[[webhooks]]\nkind = "slack"\n', "needs an http(s) url"),
        ("interval_seconds = -1\n", "interval_seconds"),
        ("surprise = 1\n", "surprise"),
        ("this is not toml", "Expected"),
    ],
)
def test_bad_configuration_is_refused_with_the_reason(
    config_file: Path, extra: str, message: str
) -> None:
    config_file.write_text(TOML + extra if "=" in extra or "[" in extra else extra)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(config_file)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_cli_refuses_to_start_without_backends_or_with_a_bad_file(tmp_path: Path) -> None:
    empty = subprocess.run(
        [TRACKR, "monitor", "--database-url", f"sqlite:///{tmp_path}/m.db"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert empty.returncode == 2
    assert "no backends" in empty.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[[backends]]\nname = "a"\nurl = "nope"\n')
    broken = subprocess.run(
        [TRACKR, "monitor", "--config", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert broken.returncode == 2
    assert "http:// or https://" in broken.stderr
    assert "Traceback" not in broken.stderr
