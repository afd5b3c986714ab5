"""clients/typescript's own tests (Node's test runner) against the three live backends, and
its formatting and type checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.localcluster import Cluster
from tests.client import typescript
from tests.client.backends import Trio

pytestmark = pytest.mark.slow


def test_the_typescript_client_passes_its_tests_on_live_backends(
    typescript_client: Path, trio: Trio, clean_db: Cluster
) -> None:
    env = {**os.environ, "TRACKR_TEST_BACKENDS": json.dumps(trio.describe())}
    output = typescript.npm("test", env=env)
    assert "# fail 0" in output, output


def test_the_typescript_sources_are_formatted_and_type_check(typescript_client: Path) -> None:
    typescript.npm("run", "lint")
