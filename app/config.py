"""Settings from the environment (12-factor). Every variable is documented in README.md."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.db.urls import SCHEMES, ReplicaUrl, parse_replica_urls

if TYPE_CHECKING:
    from limits import RateLimitItem

MIN_SECRET_LENGTH = 32
LOCAL_DATABASE_URL = "postgresql://trackr@127.0.0.1:5432/trackr"
ReadBalancing = Literal["round_robin", "weighted", "least_lag", "nearest", "primary"]
READ_BALANCING_MODES: tuple[ReadBalancing, ...] = (
    "round_robin",
    "weighted",
    "least_lag",
    "nearest",
    "primary",
)


class Settings(BaseSettings):
    # A refused setting never echoes its input: it may be a secret.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    app_env: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    # Empty: required in production; development and test use the local default below.
    database_url: str = ""
    database_replica_urls: str = ""
    patroni_urls: str = ""
    db_pool_size: int = Field(20, ge=1)
    db_max_overflow: int = Field(0, ge=0)
    db_pool_recycle_seconds: int = Field(1800, ge=1)
    db_connect_timeout_seconds: float = Field(2.0, gt=0)
    db_statement_timeout_ms: int = Field(15_000, ge=0)
    db_write_timeout_seconds: float = Field(3.0, gt=0)
    db_tcp_user_timeout_seconds: float = Field(5.0, ge=1)

    replica_check_interval_seconds: float = Field(1.0, gt=0)
    replica_check_timeout_seconds: float = Field(0.5, gt=0)
    replica_max_lag_bytes: int = Field(8 * 1024 * 1024, ge=0)
    replica_max_lag_seconds: float = Field(10.0, ge=0)
    replica_rise: int = Field(2, ge=1)
    replica_read_timeout_seconds: float = Field(2.0, gt=0)
    read_balancing: ReadBalancing = "round_robin"
    trackr_site: str = Field("", pattern=r"^[a-z0-9-]{0,32}$")
    replica_weights: str = ""
    primary_breaker_cooldown_seconds: float = Field(0.5, gt=0)
    failover_read_wait_seconds: float = Field(2.0, ge=0, le=30)
    partition_read_grace_seconds: float = Field(10.0, ge=0)

    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512", "RS256", "ES256"] = "HS256"
    jwt_audience: str | None = None
    jwt_issuer: str | None = None

    cors_allow_origins: str = ""
    cors_max_age_seconds: int = Field(600, ge=0, le=86400)

    max_body_bytes: int = Field(1024 * 1024, ge=1)
    max_field_problems: int = Field(20, ge=1, le=1000)
    idempotency_ttl_seconds: int = Field(24 * 3600, ge=60)
    backup_status_interval_seconds: float = Field(30.0, gt=0)
    shutdown_drain_seconds: float = Field(0.0, ge=0, le=300)

    # The read cache (app/cache): in memory, plus Redis when CACHE_URL is set.
    cache_enabled: bool = True
    cache_url: str = ""
    cache_ttl_seconds: float = Field(1.0, gt=0, le=300)
    cache_max_entries: int = Field(10_000, ge=1)

    # Off by default: a limit per client address is only right once FORWARDED_ALLOW_IPS
    # trusts the proxy in front (else every client is the proxy). The deploy files turn it on.
    rate_limit_enabled: bool = False
    rate_limit_storage_url: str = ""  # redis://…; empty: each process counts in memory
    rate_limit_reads: str = "600/minute"
    rate_limit_writes: str = "60/minute"
    redis_timeout_seconds: float = Field(0.25, gt=0, le=10)
    redis_cooldown_seconds: float = Field(5.0, gt=0, le=300)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if value and not value.startswith(SCHEMES):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _database_outside_dev(self) -> Settings:
        if self.database_url:
            return self
        if self.app_env == "production":
            raise ValueError(
                "DATABASE_URL is required in production: the primary's postgresql:// URL "
                "(APP_ENV=development or test falls back to " + LOCAL_DATABASE_URL + ")"
            )
        self.database_url = LOCAL_DATABASE_URL
        return self

    @model_validator(mode="after")
    def _rate_limits(self) -> Settings:
        # Parsed only when they apply: `limits` is imported by the parse (0.1 s of start-up).
        if self.rate_limit_enabled:
            for name in ("rate_limit_reads", "rate_limit_writes"):
                try:
                    parse_rate_limit(getattr(self, name))
                except ValueError as exc:
                    raise ValueError(f"{name.upper()}: {exc}") from None
        return self

    @model_validator(mode="after")
    def _secrets_outside_dev(self) -> Settings:
        if self.app_env != "production":
            return self
        if self.jwt_algorithm.startswith("HS"):
            secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"JWT_SECRET must be set to at least {MIN_SECRET_LENGTH} characters in "
                    "production (APP_ENV=development allows a generated dev secret)"
                )
        elif not self.jwt_public_key:
            raise ValueError(f"JWT_PUBLIC_KEY is required for {self.jwt_algorithm}")
        return self

    @field_validator("database_replica_urls")
    @classmethod
    def _replica_urls(cls, value: str) -> str:
        parse_replica_urls(value)
        return value

    @field_validator("patroni_urls")
    @classmethod
    def _patroni_urls(cls, value: str) -> str:
        for url in parse_list(value):
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"PATRONI_URLS entry {url!r} must be an http(s):// URL")
        return value

    @field_validator("rate_limit_storage_url", "cache_url")
    @classmethod
    def _redis_url(cls, value: str, info: ValidationInfo) -> str:
        if value and not value.startswith(REDIS_SCHEMES):
            name = (info.field_name or "").upper()
            raise ValueError(f"{name} must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _cors_origins(cls, value: str) -> str:
        parse_origins(value)
        return value

    @field_validator("replica_weights")
    @classmethod
    def _weights(cls, value: str) -> str:
        parse_weights(value)
        return value

    @property
    def replicas(self) -> list[ReplicaUrl]:
        return parse_replica_urls(self.database_replica_urls)

    @property
    def patroni_url_list(self) -> list[str]:
        return parse_list(self.patroni_urls)

    @property
    def cors_origins(self) -> list[str]:
        return parse_origins(self.cors_allow_origins)

    @property
    def weights(self) -> dict[str, int]:
        return parse_weights(self.replica_weights)


class ServeSettings(BaseSettings):
    """How `trackr serve` runs uvicorn: read by the command, not by the app."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    host: str = "0.0.0.0"
    port: int = Field(8000, ge=1, le=65535)
    web_concurrency: int = Field(1, ge=1)
    forwarded_allow_ips: str = "127.0.0.1"
    graceful_shutdown_seconds: int = Field(20, ge=0)
    # Longer than clients keep idle connections (httpx: 5 s, uvicorn's default too): a
    # client must never reuse a connection the server is closing at that very moment.
    keep_alive_timeout_seconds: int = Field(30, ge=1)
    # What one slow, silent or oversized client may hold (app.http_limits).
    request_head_timeout_seconds: float = Field(10.0, gt=0)
    first_byte_timeout_seconds: float = Field(10.0, gt=0)
    max_header_bytes: int = Field(16 * 1024, ge=1024)
    max_header_count: int = Field(100, ge=10)
    max_connections: int = Field(1000, ge=1)


def parse_list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def parse_origins(raw: str) -> list[str]:
    """`https://app.example.com,https://x.vercel.app` (exact origins) or `*` alone."""
    origins = parse_list(raw)
    if origins == ["*"]:
        return origins
    for origin in origins:
        if not ORIGIN.match(origin):
            raise ValueError(
                f"CORS_ALLOW_ORIGINS entry {origin!r} must be an exact origin such as "
                "https://app.example.com (scheme, host, optional port; no path), or `*` alone"
            )
    return origins


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def parse_rate_limit(raw: str) -> RateLimitItem:
    """`600/minute`, `10/second`, `1000 per hour`: one limit (the `limits` notation)."""
    from limits import parse_many  # imported when configured
    from limits.errors import ConfigurationError

    try:
        items = parse_many(raw)
    except (ConfigurationError, ValueError):
        items = []
    if len(items) != 1 or items[0].amount < 1:
        raise ValueError(
            f"{raw!r} is not one rate limit: write <count ≥ 1>/<second|minute|hour|day>, "
            "for example 600/minute"
        )
    return items[0]


def parse_weights(raw: str) -> dict[str, int]:
    """`replica1=3,replica2=1` → {"replica1": 3, "replica2": 1}; unnamed replicas weigh 1."""
    weights: dict[str, int] = {}
    for entry in (part.strip() for part in raw.split(",") if part.strip()):
        name, _, weight = entry.partition("=")
        if not weight.strip().isdigit() or int(weight) < 1:
            raise ValueError(f"REPLICA_WEIGHTS entry {entry!r} must be name=<positive integer>")
        weights[name.strip()] = int(weight)
    return weights


@lru_cache
def get_settings() -> Settings:
    return Settings()
