"""The restore drills of issue #19, on a real local cluster under a steady writer.

The accident: rows are written before and after a moment T, then every `mac` product is
deleted and an index dropped; `trackr backup restore --to-time T` must give back exactly the
rows of T (an insert acknowledged before T is there, one sent after T is not) and the index.
The lost primary: SIGKILLed mid-write; `restore --latest` must hold every acknowledged write
up to the archive's end, with no gap: streaming is asynchronous, so the last writes before
the kill may not have reached the archive (the RPO, measured by `make backup-report`).
"""

from __future__ import annotations

import time
from pathlib import Path

from app.localcluster.processes import kill
from tests.backup.conftest import (
    assert_holds_the_writes_before,
    backed_up_cluster,
    product_ids,
    restored_node,
    trackr,
)
from tests.backup.writer import Writer, writes_around_a_moment


def test_restore_to_a_time_before_the_accident(pg_dir: Path) -> None:
    with backed_up_cluster("drill-accident") as cluster:
        primary = cluster.primary()
        writer, moment = writes_around_a_moment(cluster.env()["DATABASE_URL"])
        primary.sql("DELETE FROM products WHERE category = 'mac'", "trackr")
        primary.sql("DROP INDEX ix_products_price", "trackr")

        target = pg_dir / "restored"
        restored = trackr(
            "backup", "restore", "--dir", str(cluster.base), "--to-time", moment.isoformat(),
            "--target-dir", str(target),
        )  # fmt: skip
        assert restored.returncode == 0, restored.stdout + restored.stderr
        node = restored_node(cluster, target)
        try:
            held, before = assert_holds_the_writes_before(node, writer, moment)
            assert len(held - before) <= 1  # at most the one insert in flight at T
            assert node.sql("SELECT count(*) FROM products WHERE category = 'mac'", "trackr") != "0"
            assert node.sql("SELECT to_regclass('ix_products_price') IS NOT NULL", "trackr") == "t"
        finally:
            node.stop("fast")


def test_restore_after_the_primary_is_killed_mid_write(pg_dir: Path) -> None:
    with backed_up_cluster("drill-killed") as cluster:
        primary = cluster.primary()
        with Writer(cluster.env()["DATABASE_URL"]) as writer:
            writer.wait_for(300)
            killed_at = time.time()
            kill(primary.process_ids())  # the primary's host lost: nothing cleans up
            writer.wait_failed()  # it was writing when the primary died
        target = pg_dir / "restored"
        restored = trackr(
            "backup", "restore", "--dir", str(cluster.base), "--latest", "--target-dir",
            str(target),
        )  # fmt: skip
        assert restored.returncode == 0, restored.stdout + restored.stderr
        node = restored_node(cluster, target)
        try:
            held = product_ids(node, "name LIKE 'drill %'")
        finally:
            node.stop("fast")
        in_order = [w.id for w in writer.acknowledged]  # one writer: acknowledged in order
        kept = [i for i in in_order if i in held]
        assert kept == in_order[: len(kept)], "a write is missing before the archive's end"
        lost = writer.acknowledged[len(kept) :]
        assert all(w.acked > killed_at - 1 for w in lost), "writes older than 1 s lost"
