"""`trackr monitor` settings: flags over environment (`MONITOR_*`) over a TOML file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, Self

from platformdirs import user_data_path
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def default_database_url() -> str:
    """SQLite in the user's data directory (e.g. ~/.local/share/trackr/monitor.db), never
    the working directory."""
    return f"sqlite+aiosqlite:///{user_data_path('trackr') / 'monitor.db'}"


_config_file: ContextVar[Path | None] = ContextVar("monitor_config_file", default=None)


class ConfigError(ValueError):
    """The monitor cannot start with this configuration (message says why)."""


class BackendConfig(BaseModel):
    model_config = {"extra": "forbid"}

    name: str
    url: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("letters, digits, '_', '.', '-' (at most 40), starting alphanumeric")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("an http:// or https:// base URL")
        return value.rstrip("/")


class WebhookConfig(BaseModel):
    """Where alerts go: a generic JSON webhook, a Slack incoming webhook or a Telegram bot."""

    model_config = {"extra": "forbid"}

    kind: Literal["generic", "slack", "telegram"] = "generic"
    url: str | None = None
    bot_token: SecretStr | None = None
    chat_id: str | None = None
    telegram_api: str = "https://api.telegram.org"

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kind == "telegram":
            if self.bot_token is None or not self.chat_id:
                raise ValueError("a telegram webhook needs bot_token and chat_id")
        elif not self.url or not re.match(r"^https?://", self.url):
            raise ValueError(f"a {self.kind} webhook needs an http(s) url")
        return self

    @property
    def label(self) -> str:
        return "telegram" if self.kind == "telegram" else f"{self.kind}:{self.url}"


class MonitorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="forbid")

    backends: list[BackendConfig] = Field(default_factory=list)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    database_url: str = Field(default_factory=default_database_url)
    host: str = "127.0.0.1"
    port: int = Field(8090, ge=1, le=65535)
    interval_seconds: float = Field(30.0, ge=0.2)
    timeout_seconds: float = Field(5.0, gt=0)
    failures_before_down: int = Field(3, ge=1)
    drift_tolerance: int = Field(0, ge=0)
    refresh_seconds: float = Field(10.0, ge=0.5)
    retention_days: int = Field(8, ge=1)
    alert_attempts: int = Field(5, ge=1, le=20)
    alert_backoff_seconds: float = Field(1.0, gt=0)

    @field_validator("backends")
    @classmethod
    def _unique(cls, value: list[BackendConfig]) -> list[BackendConfig]:
        names = [b.name for b in value]
        if len(set(names)) != len(names):
            raise ValueError(f"backend names must be unique: {names}")
        return value

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        return async_database_url(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_file.get()
        from_file = (TomlConfigSettingsSource(settings_cls, toml_file=path),) if path else ()
        return (init_settings, env_settings, *from_file)


def async_database_url(url: str) -> str:
    """SQLite (a file, the default) or PostgreSQL, with the async driver named."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url.removeprefix(plain)
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    raise ValueError("a sqlite:///path or postgresql:// URL")


def parse_backend_flag(value: str) -> dict[str, str]:
    """`name=https://…` (or a bare URL, named after its host)."""
    name, sep, url = value.partition("=")
    if not sep or "://" in name:
        url = value
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", url.split("://", 1)[-1].split("/")[0])
    return {"name": name.strip(), "url": url.strip()}


@contextmanager
def _reading(path: Path | None) -> Iterator[None]:
    token = _config_file.set(path)
    try:
        yield
    finally:
        _config_file.reset(token)


def load_settings(config_file: Path | None = None, **overrides: Any) -> MonitorSettings:
    """Settings from flags (`overrides`, None = not given), `MONITOR_*` and the TOML file."""
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file not found: {config_file}")
    given = {key: value for key, value in overrides.items() if value not in (None, [], ())}
    try:
        with _reading(config_file):
            return MonitorSettings(**given)
    except ValueError as exc:  # pydantic's ValidationError and tomllib's decode error
        raise ConfigError(str(exc)) from exc
