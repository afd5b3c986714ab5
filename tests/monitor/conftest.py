from __future__ import annotations

import pytest

from app.auth import create_token
from app.config import Settings
from tests.faults.harness import SECRET


@pytest.fixture(scope="session")
def write_token() -> str:
    """Signed for the backends these tests start (they share the fault harness's secret)."""
    return create_token(Settings(app_env="test", jwt_secret=SECRET), ["products:write"], 3600)
