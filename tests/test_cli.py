"""The `trackr` command, driven the way a user types it."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from app.cli import app, parse_ttl
from app.localcluster import Cluster
from tests.support import TEST_SECRET, wait_replicated

runner = CliRunner()


def test_token_create_prints_a_scoped_expiring_jwt() -> None:
    result = runner.invoke(
        app, ["token", "create", "--scope", "products:write", "--ttl", "1h"],
        env={"JWT_SECRET": TEST_SECRET},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), TEST_SECRET, algorithms=["HS256"])
    assert claims["scope"] == "products:write"
    assert 3500 < claims["exp"] - claims["iat"] <= 3600


def test_token_create_without_a_secret_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JWT_SECRET", raising=False)
    result = runner.invoke(app, ["token", "create", "--scope", "products:write"])
    assert result.exit_code == 1
    assert "JWT_SECRET" in result.output
    assert f"{tmp_path} or any folder above it" in result.output.replace("\n", "")


def test_token_create_finds_the_dev_secret_from_any_folder_below_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "dev-jwt-secret").write_text(TEST_SECRET + "\n")
    deep = tmp_path / "clients" / "python"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    monkeypatch.delenv("JWT_SECRET", raising=False)
    result = runner.invoke(app, ["token", "create", "--scope", "products:write"])
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), TEST_SECRET, algorithms=["HS256"])
    assert claims["scope"] == "products:write"


def test_serve_refuses_production_without_a_database_url_in_plain_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("DATABASE_URL", raising=False)
    env = {"APP_ENV": "production", "JWT_SECRET": TEST_SECRET, "PORT": "1"}
    result = runner.invoke(app, ["serve"], env=env)
    assert result.exit_code == 1
    assert "invalid settings: DATABASE_URL is required in production" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("30m", 1800), ("1h", 3600), ("7d", 604800)]
)
def test_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


def test_cluster_commands(pg_dir: Path) -> None:
    directory = str(pg_dir / "c")
    try:
        up = runner.invoke(app, ["cluster", "up", "--replicas", "1", "--dir", directory])
        assert up.exit_code == 0, up.output
        assert "pgserver wheel" in up.output
        status = runner.invoke(app, ["cluster", "status", "--dir", directory])
        assert "replica1" in status.output
        assert "running" in status.output
        env = runner.invoke(app, ["cluster", "env", "--dir", directory])
        lines = env.output.strip().splitlines()
        assert lines[0].startswith("DATABASE_URL=postgresql://")
        assert lines[1].startswith("DATABASE_REPLICA_URLS=replica1=postgresql://")
        down = runner.invoke(app, ["cluster", "down", "--dir", directory])
        assert down.exit_code == 0
        status = runner.invoke(app, ["cluster", "status", "--dir", directory])
        assert "stopped" in status.output
    finally:
        Cluster(Path(directory)).destroy()


def test_status_without_a_cluster_says_how_to_start_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["cluster", "status", "--dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "trackr cluster up" in result.output


def test_seed_fills_every_category_with_history(clean_db: Cluster) -> None:
    url = clean_db.env()["DATABASE_URL"]
    result = runner.invoke(app, ["seed"], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    primary = clean_db.primary()
    counts = primary.sql(
        "SELECT string_agg(category || '=' || n, ',' ORDER BY category) "
        "FROM (SELECT category, count(*) n FROM products GROUP BY category) c",
        dbname="trackr",
    )
    per_category = dict(item.split("=") for item in counts.split(","))
    assert set(per_category) == {"coins", "games", "mac", "pokemon"}
    assert sum(int(n) for n in per_category.values()) >= 40
    assert int(primary.sql(
        "SELECT min(n) FROM (SELECT count(*) n FROM price_history GROUP BY product_id) h",
        dbname="trackr")) > 1  # fmt: skip
    again = runner.invoke(app, ["seed"], env={"DATABASE_URL": url})
    assert "seeded 0 products" in again.output
    wait_replicated(clean_db)


def test_db_upgrade_is_a_no_op_at_head(migrated: Cluster) -> None:
    result = runner.invoke(
        app, ["db", "upgrade"], env={"DATABASE_URL": migrated.env()["DATABASE_URL"]}
    )
    assert result.exit_code == 0, result.output
