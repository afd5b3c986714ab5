"""What `trackr backup` takes in production: the `BACKUP_*` variables (README, docs/backups.md).

Locally none is needed: the physical method finds the local cluster as `trackr cluster env`
does, and dumps go beside its barman repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.backup.barman import BackupError


class BackupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKUP_", extra="ignore")

    # `barman`: base backups and streamed WAL of a cluster trackr runs (point in time).
    # `dump`: a logical pg_dump, for managed PostgreSQL that forbids WAL archiving.
    method: Literal["barman", "dump"] = "barman"
    # Where dumps go: a directory, or s3://bucket/prefix (any S3-compatible store).
    repository: str | None = None
    s3_endpoint_url: str | None = None  # e.g. a MinIO, R2 or local endpoint; AWS when unset
    retention_days: int = Field(7, ge=1)
    # The longest one pg_dump or pg_restore may run: a hung or cut-off server fails the job
    # (and its retries) instead of holding it until the platform kills it.
    tool_timeout_seconds: float = Field(21600.0, gt=0)
    # The database to dump and to lock; DATABASE_URL when unset. With BACKUP_BARMAN_HOME,
    # barman's own connection too: a superuser, or a role with the backup privileges.
    database_url: str | None = None
    # barman for a PostgreSQL trackr does not run: its repository (a volume), and a
    # replication role's URL for the WAL stream and base backups. Unset: the local cluster.
    barman_home: Path | None = None
    streaming_url: str | None = None
    # `trackr backup stream`: seconds between barman's maintenance passes (`barman cron`:
    # restarting the WAL stream, archiving what it received, applying the retention).
    stream_interval_seconds: float = Field(60.0, gt=0)
    # An empty database of its own that `verify --method dump` restores into (wiped first).
    verify_url: str | None = None

    @property
    def repository_is_s3(self) -> bool:
        return self.repository is not None and self.repository.startswith("s3://")

    @field_validator(
        "repository", "s3_endpoint_url", "database_url", "verify_url", "barman_home",
        "streaming_url", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("repository")
    @classmethod
    def _s3_names_a_bucket(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("s3://") and not value[5:].strip("/"):
            raise ValueError("name the bucket: s3://bucket or s3://bucket/prefix")
        return value

    @model_validator(mode="after")
    def _barman_home_needs_its_connections(self) -> BackupSettings:
        if self.barman_home is not None and not (self.database_url and self.streaming_url):
            raise ValueError(
                "BACKUP_BARMAN_HOME needs BACKUP_DATABASE_URL (a superuser, or a role with the "
                "backup privileges) and BACKUP_STREAMING_URL (a role with REPLICATION)"
            )
        return self


def load() -> BackupSettings:
    """The BACKUP_* variables; a BackupError saying which one is wrong."""
    try:
        return BackupSettings()
    except ValidationError as exc:
        raise BackupError(f"BACKUP_* settings: {exc}") from exc
