"""The Prometheus rules in deploy/observability: valid, every alert unit-tested with promtool
(a series that fires it and a moment it must not), and a runbook line for each."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "observability" / "prometheus"
RUNBOOK = ROOT / "docs" / "observability.md"
PROMTOOL = shutil.which("promtool")

if PROMTOOL is None:
    pytest.skip("promtool is not installed (Debian's prometheus)", allow_module_level=True)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=RULES, capture_output=True, text=True, timeout=120, check=False
    )


def _rules(name: str) -> list[dict[str, Any]]:
    groups = yaml.safe_load((RULES / name).read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_rule_files_are_valid() -> None:
    checked = _promtool("check", "rules", "alerts.yml", "recording.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_passes_its_unit_tests() -> None:
    tested = _promtool("test", "rules", "tests/alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_rule_has_a_test_that_fires_it_and_one_where_it_must_not() -> None:
    suite = yaml.safe_load((RULES / "tests" / "alerts_test.yml").read_text())["tests"]
    fired: set[tuple[str, str]] = set()  # (alert, severity) some test expects to fire
    quiet: set[str] = set()  # alerts some test expects silent
    for case in suite:
        for check in case.get("alert_rule_test", []):
            for alert in check["exp_alerts"]:
                fired.add((check["alertname"], alert["exp_labels"]["severity"]))
            if not check["exp_alerts"]:
                quiet.add(check["alertname"])
    expressions = {e["expr"] for case in suite for e in case.get("promql_expr_test", [])}
    alerts = _rules("alerts.yml")
    for rule in alerts:
        assert (rule["alert"], rule["labels"]["severity"]) in fired, rule["alert"]
        assert rule["alert"] in quiet, f"{rule['alert']}: no moment where it must stay silent"
    for rule in _rules("recording.yml"):
        assert rule["record"] in expressions, rule["record"]


def test_every_alert_has_a_runbook_line() -> None:
    runbook = RUNBOOK.read_text()
    anchors = {_anchor(title) for title in re.findall(r"^#+ (.+)$", runbook, re.MULTILINE)}
    for rule in _rules("alerts.yml"):
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/observability.md#{rule['alert'].lower()}", url
        assert rule["alert"].lower() in anchors, f"docs/observability.md has no {rule['alert']}"


def _anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def test_the_compose_prometheus_config_is_valid() -> None:
    checked = _promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
