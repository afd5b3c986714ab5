"""`trackr backup restore --in-place`: the cluster itself goes back to a moment before the
accident, on the same ports, after a confirmation; nothing is deleted that cannot be rebuilt
(the primary's directory is kept aside, the replica cloned again), and backups go on."""

from __future__ import annotations

import os
import subprocess

from app.localcluster import Cluster
from tests.backup.conftest import (
    TRACKR,
    assert_holds_the_writes_before,
    backed_up_cluster,
    product_ids,
    trackr,
)
from tests.backup.writer import writes_around_a_moment
from tests.support import wait_replicated


def test_an_in_place_restore_asks_first_and_keeps_what_it_replaces() -> None:
    with backed_up_cluster("in-place") as cluster:
        primary = cluster.primary()
        writer, moment = writes_around_a_moment(cluster.env()["DATABASE_URL"])
        primary.sql("DELETE FROM products WHERE category = 'mac'", "trackr")
        args = ["backup", "restore", "--in-place", "--dir", str(cluster.base),
                "--to-time", moment.isoformat()]  # fmt: skip

        declined = subprocess.run(
            [TRACKR, *args], input="n\n", capture_output=True, text=True, timeout=120,
            env=os.environ.copy(), check=False,
        )  # fmt: skip
        assert declined.returncode == 1, declined.stdout + declined.stderr
        assert "Aborted" in declined.stdout + declined.stderr
        assert primary.sql("SELECT count(*) FROM products WHERE category = 'mac'", "trackr") == "0"

        restored = trackr(*args, "--yes")
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "before-restore-" in restored.stdout
        cluster = Cluster(cluster.base)
        primary = cluster.primary()
        held, _ = assert_holds_the_writes_before(primary, writer, moment)
        assert primary.sql("SELECT count(*) FROM products WHERE category = 'mac'", "trackr") != "0"
        kept = [p for p in primary.datadir.parent.iterdir() if ".before-restore-" in p.name]
        assert len(kept) == 1
        assert (kept[0] / "PG_VERSION").exists()

        primary.sql(
            "INSERT INTO products (category, name, price, currency, in_stock, attributes) "
            "VALUES ('games', 'after the restore', 1, 'EUR', true, '{}')",
            "trackr",
        )
        wait_replicated(cluster)
        replica = cluster.replicas()[0]
        assert product_ids(replica, "name LIKE 'drill %'") == held
        again = trackr("backup", "create", "--dir", str(cluster.base))
        assert again.returncode == 0, again.stdout + again.stderr
