"""What building the app leaves out of a process start (docs/performance-notes.md, steps 22-23):
each is measured in the cold start, and each comes back the moment something needs it."""

from __future__ import annotations

import json
import subprocess
import sys

BUILD_THE_APP = """
import json, sys
from app.config import Settings
from app.main import create_app
create_app(Settings(app_env="test", jwt_secret="s" * 32,
                    database_url="postgresql+asyncpg://trackr@127.0.0.1:9/trackr"))
print(json.dumps([name for name in sys.argv[1:] if name in sys.modules]))
"""
LEFT_OUT = ["pydantic.v1", "jwt", "rich", "redis", "limits", "app.models"]  # models: app.db.tables


def test_building_the_app_imports_none_of_what_it_does_not_need() -> None:
    out = subprocess.run([sys.executable, "-c", BUILD_THE_APP, *LEFT_OUT],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(out.stdout) == []


SERVED = """
import gc, json, os
os.environ.update(APP_ENV="test", JWT_SECRET="s" * 32, LOG_LEVEL="WARNING",
                  DATABASE_URL="postgresql+asyncpg://trackr@127.0.0.1:9/trackr")
import app.asgi
from app.main import freeze_startup_heap
built = gc.isenabled()
freeze_startup_heap()
print(json.dumps([built, gc.isenabled(), gc.get_freeze_count() > 0]))
"""


def test_the_served_app_is_built_without_collections_until_the_freeze() -> None:
    out = subprocess.run([sys.executable, "-c", SERVED],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(out.stdout) == [False, True, True]


def test_the_deferred_imports_arrive_with_the_freeze() -> None:
    from app.main import freeze_startup_heap

    freeze_startup_heap()
    assert "jwt" in sys.modules


PYDANTIC_V1_STILL_REFUSED = """
import warnings
warnings.simplefilter("ignore")
import app.fastapi_probe
from fastapi import FastAPI
from fastapi.exceptions import FastAPIError
from pydantic import v1

class Old(v1.BaseModel):
    name: str

app = FastAPI()
for model in (Old, list[Old], Old | None):
    try:
        app.get("/old", response_model=model)(lambda: None)
    except FastAPIError as exc:
        print("refused:", type(exc).__name__)
"""


def test_fastapi_still_refuses_a_pydantic_v1_model_once_pydantic_v1_is_imported() -> None:
    out = subprocess.run([sys.executable, "-c", PYDANTIC_V1_STILL_REFUSED],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.count("refused:") == 3, out.stdout + out.stderr
