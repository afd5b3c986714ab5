"""Settings: safe defaults, no working secret outside development, replica URL parsing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import ServeSettings, Settings
from app.db.urls import ReplicaUrl, parse_replica_urls, to_conninfo

PRIMARY = "postgresql://trackr:pw@db.internal:5432/trackr"


def test_production_refuses_a_missing_or_short_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(app_env="production", database_url=PRIMARY)
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(app_env="production", database_url=PRIMARY, jwt_secret="short")
    assert Settings(app_env="production", database_url=PRIMARY, jwt_secret="s" * 32)


def test_production_refuses_a_missing_database_url_elsewhere_the_local_one_serves() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL is required in production"):
        Settings(app_env="production", jwt_secret="s" * 32)
    for env in ("development", "test"):
        local = Settings(app_env=env).database_url
        assert local == "postgresql://trackr@127.0.0.1:5432/trackr"


def test_production_asymmetric_needs_a_public_key() -> None:
    with pytest.raises(ValidationError, match="JWT_PUBLIC_KEY"):
        Settings(app_env="production", database_url=PRIMARY, jwt_algorithm="RS256")


def test_a_refused_secret_is_never_echoed() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(app_env="production", database_url=PRIMARY, jwt_secret="tiny-secret-abc")
    assert "tiny-secret" not in str(refused.value)
    assert "JWT_SECRET" in str(refused.value)


def test_development_allows_no_secret() -> None:
    assert Settings(app_env="development").jwt_secret is None


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("REPLICA_MAX_LAG_BYTES", "1024")
    assert Settings().replica_max_lag_bytes == 1024
    assert ServeSettings().port == 9123


def test_database_url_must_be_postgres() -> None:
    with pytest.raises(ValidationError, match="postgresql"):
        Settings(app_env="development", database_url="mysql://x")


def test_replica_urls_named_and_derived() -> None:
    parsed = parse_replica_urls(
        "east=postgresql://u:p@db-east:5432/t, postgresql://u:p@db-west:6543/t?sslmode=require"
    )
    assert parsed == [
        ReplicaUrl("east", "postgresql://u:p@db-east:5432/t"),
        ReplicaUrl("db-west:6543", "postgresql://u:p@db-west:6543/t?sslmode=require"),
    ]
    assert parse_replica_urls("") == []
    with pytest.raises(ValueError, match="unique"):
        parse_replica_urls("a=postgresql://h/t,a=postgresql://h2/t")


def test_names_derive_from_the_first_host_without_credentials() -> None:
    from app.db.urls import first_host, normalize_dsn

    assert first_host("postgresql://u:secret@db1:6000,db2:6001/t") == "db1:6000"
    assert first_host("postgres://u@db3/t") == "db3:5432"
    assert normalize_dsn("postgresql+asyncpg://u@h/t") == "postgresql://u@h/t"


@pytest.mark.parametrize(
    ("url", "conninfo"),
    [
        ("postgresql://replicator:p%40ss@127.0.0.1:5432/",
         "host=127.0.0.1 port=5432 user=replicator password=p@ss"),
        ("postgresql+asyncpg://postgres@/trackr?host=/tmp/a b/run&port=6543",
         "user=postgres dbname=trackr host='/tmp/a b/run' port=6543"),
        ("postgresql://u:it's@h1:1,h2:2/db?target_session_attrs=read-write",
         "host=h1,h2 port=1,2 user=u password='it\\'s' dbname=db target_session_attrs=read-write"),
        ("postgres://u@[::1]:5/db", "host=::1 port=5 user=u dbname=db"),
    ],
)  # fmt: skip
def test_a_url_becomes_the_conninfo_barman_takes(url: str, conninfo: str) -> None:
    assert to_conninfo(url) == conninfo


def test_barman_home_needs_the_connections_it_backs_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.backup.settings import BackupSettings

    monkeypatch.setenv("BACKUP_BARMAN_HOME", "/backups/barman")
    with pytest.raises(ValidationError, match="BACKUP_STREAMING_URL"):
        BackupSettings()
    monkeypatch.setenv("BACKUP_DATABASE_URL", "postgresql://postgres:pw@db/trackr")
    monkeypatch.setenv("BACKUP_STREAMING_URL", "postgresql://replicator:pw@db/")
    assert BackupSettings().barman_home is not None
