"""README's configuration table and `.env.example` state the code's defaults, all of them.

Every setting (`Settings` for the app, `ServeSettings` for `trackr serve`, `BackupSettings`
for `trackr backup`) must have a row
and a line; every documented default must equal the code's; a documented variable that is
no setting must be one we know is read elsewhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from app.backup.settings import BackupSettings
from app.config import ServeSettings, Settings

ROOT = Path(__file__).resolve().parent.parent
# Read by libraries, not by our settings.
NOT_SETTINGS = {
    "PROMETHEUS_MULTIPROC_DIR": "prometheus-client's multiprocess directory",
    # OpenTelemetry's own variables, read by app.tracing and the SDK.
    "OTEL_EXPORTER_OTLP_ENDPOINT": "OpenTelemetry",
    "OTEL_TRACES_EXPORTER": "OpenTelemetry",
    "OTEL_SERVICE_NAME": "OpenTelemetry",
    "OTEL_TRACES_SAMPLER_ARG": "OpenTelemetry",
}
NO_DEFAULT = "\N{EN DASH}"
ROW = re.compile(r"^\| (`[A-Z0-9_]+`(?:, `[A-Z0-9_]+`)*) \| ([^|]+) \|")


def _defaults() -> dict[str, Any]:
    models: tuple[type[BaseSettings], ...] = (Settings, ServeSettings, BackupSettings)
    return {
        (str(model.model_config.get("env_prefix", "")) + name).upper(): field.default
        for model in models
        for name, field in model.model_fields.items()
    }


def _documented_rows() -> dict[str, str]:
    """`VARIABLE` → its default as README writes it (rows may name several of each)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in table.splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        names = [n.strip("` ") for n in match[1].split(",")]
        values = [v.strip().strip("`") for v in match[2].split(", ")]
        if len(values) != len(names):  # one default for every name in the row
            values = [match[2].strip().strip("`")] * len(names)
        rows.update(zip(names, values, strict=True))
    return rows


def _written(value: Any) -> str:
    """A default as the docs write it: a dash for none, `empty` for "", numbers plainly."""
    if value is None:
        return NO_DEFAULT
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()  # as an environment variable is written
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _secret(value: Any) -> Any:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def test_readme_states_every_setting_with_its_default() -> None:
    documented = _documented_rows()
    defaults = _defaults()
    assert set(defaults) - set(documented) == set(), "settings missing from README"
    assert set(documented) - set(defaults) - set(NOT_SETTINGS) == set(), "README rows no setting"
    wrong = {
        name: (documented[name], _written(_secret(value)))
        for name, value in defaults.items()
        if documented[name] != _written(_secret(value))
    }
    assert wrong == {}, "README default != code default (README, code)"


def test_env_example_lists_every_setting_with_its_default_or_a_placeholder() -> None:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    example = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    defaults = _defaults()
    assert set(defaults) - set(example) == set(), "settings missing from .env.example"
    wrong = {
        name: (example[name], _written(value))
        for name, value in defaults.items()
        # empty: "set it yourself"; CHANGE_ME: a placeholder for a deployment's own value
        if example[name] and "CHANGE_ME" not in example[name]
        and example[name] != _written(value)
    }  # fmt: skip
    assert wrong == {}, ".env.example value != code default (.env.example, code)"
