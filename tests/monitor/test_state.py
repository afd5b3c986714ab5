"""Up/degraded/down debouncing and drift detection (pure logic, no I/O)."""

from __future__ import annotations

from app.monitor.probe import Check
from app.monitor.state import DRIFT, Tracker, drift_differences

COUNTS = {"mac": 38, "pokemon": 5, "coins": 0, "games": 2}


def good(name: str, at: float, **counts: int) -> Check:
    return Check(
        name,
        at,
        ok=True,
        latency_ms=3.0,
        http_status=200,
        health="ok",
        schema_revision="rev1",
        counts={**COUNTS, **counts},
    )


def bad(name: str, at: float) -> Check:
    return Check(name, at, ok=False, error="connection refused or unreachable")


def tracker(failures: int = 3, tolerance: int = 0) -> Tracker:
    return Tracker(["a", "b"], failures_before_down=failures, drift_tolerance=tolerance)


def test_down_only_after_n_consecutive_failures_and_up_on_the_first_success() -> None:
    t = tracker(failures=3)
    assert t.observe(good("a", 1)) is None  # unknown -> up is not news
    assert t.observe(bad("a", 2)) is None
    assert t.observe(bad("a", 3)) is None
    down = t.observe(bad("a", 4))
    assert down is not None
    assert (down.kind, down.subject, down.at) == ("down", "a", 4)
    assert "connection refused" in down.detail
    assert t.observe(bad("a", 5)) is None  # already down: one alert per incident
    up = t.observe(good("a", 6))
    assert up is not None
    assert (up.kind, up.at) == ("up", 6)
    assert t.backends["a"].status == "up"


def test_a_blip_shorter_than_n_never_alerts() -> None:
    t = tracker(failures=2)
    events = [t.observe(c) for c in (good("a", 1), bad("a", 2), good("a", 3), bad("a", 4))]
    assert events == [None, None, None, None]
    assert t.backends["a"].status == "up"


def test_a_backend_down_from_the_start_is_reported() -> None:
    t = tracker(failures=2)
    assert t.observe(bad("b", 1)) is None
    assert t.backends["b"].status == "unknown"
    event = t.observe(bad("b", 2))
    assert event is not None
    assert event.kind == "down"


def test_drift_needs_n_rounds_and_recovers_on_agreement() -> None:
    t = tracker(failures=2)
    apart = [good("a", 1, mac=38), good("b", 1, mac=11)]
    assert t.observe_round(apart) is None
    drifted = t.observe_round(apart)
    assert drifted is not None
    assert (drifted.kind, drifted.subject) == ("drifted", DRIFT)
    assert "mac products differ: a=38, b=11" in drifted.detail
    assert t.observe_round(apart) is None  # still drifted, no second alert
    recovered = t.observe_round([good("a", 3), good("b", 3)])
    assert recovered is not None
    assert recovered.kind == "recovered"
    assert not t.drifted


def test_drift_tolerance_and_schema_revision() -> None:
    assert drift_differences([good("a", 1, mac=40), good("b", 1, mac=38)], tolerance=2) == []
    assert drift_differences([good("a", 1, mac=41), good("b", 1, mac=38)], tolerance=2) == [
        "mac products differ: a=41, b=38"
    ]
    old = Check("b", 1, ok=True, schema_revision="rev0", counts=COUNTS)
    assert drift_differences([good("a", 1), old], tolerance=0) == [
        "schema revision differs: a=rev1, b=rev0"
    ]


def test_unreachable_or_silent_backends_are_left_out_of_drift() -> None:
    t = tracker(failures=1)
    silent = Check("b", 1, ok=True, counts=None)  # an older backend without /api/stats
    assert t.observe_round([good("a", 1), bad("b", 1)]) is None
    assert t.observe_round([good("a", 1), silent]) is None
    assert not t.drifted


def test_restore_resumes_open_incidents_without_new_alerts() -> None:
    t = tracker(failures=2)
    t.restore([("a", "down", 100.0), ("b", "degraded", 95.0)], drift_since=90.0)
    assert t.backends["b"].status == "degraded"
    assert t.backends["a"].status == "down"
    assert t.observe(bad("a", 101)) is None
    assert t.drifted
    assert t.observe_round([good("a", 102, mac=1), good("b", 102)]) is None
    up = t.observe(good("a", 103))
    assert up is not None
    assert up.kind == "up"


def degraded(name: str, at: float) -> Check:
    return Check(
        name, at, ok=True, latency_ms=3.0, http_status=200, health="degraded",
        error="degraded: primary unavailable: writes fail, reads use replicas",
    )  # fmt: skip


def test_degraded_is_a_state_of_its_own_debounced_like_down() -> None:
    t = tracker(failures=3)
    assert t.observe(good("a", 1)) is None
    assert t.observe(degraded("a", 2)) is None  # one blip is not news
    assert t.observe(good("a", 3)) is None
    assert [t.observe(degraded("a", at)) for at in (4, 5)] == [None, None]
    became = t.observe(degraded("a", 6))
    assert became is not None
    assert (became.kind, became.at) == ("degraded", 6)
    assert "writes fail" in became.detail
    assert t.backends["a"].status == "degraded"
    assert t.observe(degraded("a", 7)) is None
    healthy = t.observe(good("a", 8))
    assert healthy is not None
    assert (healthy.kind, t.backends["a"].status) == ("healthy", "up")


def test_a_mix_of_failed_and_degraded_checks_ends_in_the_latest_bad_state() -> None:
    t = tracker(failures=3)
    t.observe(good("a", 1))
    assert t.observe(bad("a", 2)) is None
    assert t.observe(degraded("a", 3)) is None
    became = t.observe(degraded("a", 4))  # three unhealthy in a row, the last degraded
    assert became is not None
    assert became.kind == "degraded"
    for at in (5, 6):
        assert t.observe(bad("a", at)) is None
    down = t.observe(bad("a", 7))
    assert down is not None
    assert down.kind == "down"
    back = t.observe(degraded("a", 8))  # answering again, but not whole: at once
    assert back is not None
    assert (back.kind, t.backends["a"].status) == ("degraded", "degraded")
    assert back.detail.startswith("answering again, but degraded")
    up = t.observe(good("a", 9))
    assert up is not None
    assert up.kind == "healthy"
