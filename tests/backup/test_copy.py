"""The S3 copy of the local repository (barman-cloud, as barman's hook scripts), against a
real S3-compatible server on loopback (moto): every base backup and WAL segment reaches it,
and after the host that kept the local repository is lost, a restore from the copy alone
gives back exactly the rows of a moment before the accident."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.backup.local import repository_for
from tests.backup.conftest import (
    assert_holds_the_writes_before,
    backed_up_cluster,
    restored_node,
    trackr,
)
from tests.backup.writer import writes_around_a_moment
from tests.s3_server import s3_server


def test_a_restore_from_the_s3_copy_alone_reaches_a_time_before_the_accident(
    pg_dir: Path,
) -> None:
    with s3_server() as s3:
        env = s3.env("physical")
        with backed_up_cluster("copy-accident", env) as cluster:
            listed = trackr("backup", "list", "--source", "s3", "--dir", str(cluster.base), env=env)
            assert listed.returncode == 0, listed.stderr
            assert " DONE " in listed.stdout
            writer, moment = writes_around_a_moment(cluster.env()["DATABASE_URL"])
            primary = cluster.primary()
            primary.sql("DELETE FROM products WHERE category = 'mac'", "trackr")
            primary.sql("DROP INDEX ix_products_price", "trackr")
            # A second backup, after the accident: the restore must pick the first one, and
            # taking it ships the WAL up to now to the copy.
            again = trackr("backup", "create", "--dir", str(cluster.base), env=env)
            assert again.returncode == 0, again.stdout + again.stderr
            assert "copied to s3://" in again.stdout
            keys = [
                item["Key"]
                for page in s3.client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=s3.bucket, Prefix="physical/trackr/")
                for item in page.get("Contents", [])
            ]
            assert any("/wals/" in key for key in keys), keys
            assert sum(key.endswith("backup.info") for key in keys) == 2, keys

            trackr("cluster", "down", "--dir", str(cluster.base), env=env)
            shutil.rmtree(repository_for(cluster.base))  # the backup host is lost

            target = pg_dir / "restored-from-s3"
            restored = trackr(
                "backup", "restore", "--source", "s3", "--dir", str(cluster.base),
                "--to-time", moment.isoformat(), "--target-dir", str(target), env=env,
            )  # fmt: skip
            assert restored.returncode == 0, restored.stdout + restored.stderr
            node = restored_node(cluster, target)
            try:
                assert_holds_the_writes_before(node, writer, moment)
                mac = node.sql("SELECT count(*) FROM products WHERE category = 'mac'", "trackr")
                assert mac != "0"
                index = node.sql("SELECT to_regclass('ix_products_price') IS NOT NULL", "trackr")
                assert index == "t"
            finally:
                node.stop("fast")
