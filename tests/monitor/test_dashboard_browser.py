"""What a person sees: the dashboard in a real headless Chromium against real backends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from app.localcluster import Cluster
from tests.browser import HAVE_CHROMIUM
from tests.faults.harness import ApiServer
from tests.monitor.backends import MonitorProcess, start_backend, start_degraded_backend

GREEN, RED = "rgb(22, 163, 74)", "rgb(220, 38, 38)"

if not HAVE_CHROMIUM:
    pytest.skip("Debian's chromium + chromium-driver are not installed", allow_module_level=True)


# The page re-renders every refresh, so an element found in one WebDriver call can be gone by
# the next: each read is one script, atomic with respect to the page's own rendering.
READ_CARD = """
const card = document.querySelector(`section.card[data-backend="${arguments[0]}"]`);
if (!card) return null;
const badge = card.querySelector('[data-role="status"]');
const error = card.querySelector(".error");
return {
  status: card.dataset.status,
  badge: badge.textContent,
  color: getComputedStyle(badge).backgroundColor,
  error: error ? error.textContent : null,
};
"""


def card(driver: WebDriver, name: str) -> dict[str, str | None] | None:
    found: dict[str, str | None] | None = driver.execute_script(READ_CARD, name)
    return found


def card_status(driver: WebDriver, name: str) -> str | None:
    found = card(driver, name)
    return found["status"] if found else None


def text_of(driver: WebDriver, selector: str) -> str:
    text: str = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", selector
    )
    return text


def quick_monitor(backends: dict[str, str], directory: Path) -> MonitorProcess:
    """`trackr monitor` checking every 0.3 s, down after 2 failures, the page refreshing
    every 0.5 s."""
    return MonitorProcess(
        backends,
        f"sqlite:///{directory}/monitor.db",
        directory / "monitor.log",
        MONITOR_INTERVAL_SECONDS="0.3",
        MONITOR_FAILURES_BEFORE_DOWN="2",
        MONITOR_REFRESH_SECONDS="0.5",
        MONITOR_TIMEOUT_SECONDS="2",
    )


def test_a_backend_turns_red_on_the_open_page_when_its_process_is_stopped(
    pair: tuple[ApiServer, ApiServer], browser: WebDriver, tmp_path: Path
) -> None:
    a, b = pair
    monitor = quick_monitor({"render": a.base_url, "railway": b.base_url}, tmp_path)
    with monitor:
        monitor.wait_until(lambda s: all(b["status"] == "up" for b in s["backends"]))
        browser.get(monitor.base_url + "/")
        wait = WebDriverWait(browser, 20, poll_frequency=0.1)
        wait.until(lambda d: card_status(d, "render") == "up" and card_status(d, "railway") == "up")
        railway = card(browser, "railway")
        assert railway is not None
        assert (railway["badge"], railway["color"]) == ("UP", GREEN)
        assert "agree" in text_of(browser, "#drift")

        b.stop()  # SIGTERM: the railway backend's process is gone
        wait.until(lambda d: card_status(d, "railway") == "down")  # no reload: auto-refresh
        railway, render = card(browser, "railway"), card(browser, "render")
        assert railway is not None
        assert render is not None
        assert (railway["badge"], railway["color"]) == ("DOWN", RED)
        assert (render["badge"], render["color"]) == ("UP", GREEN)
        assert "connection refused" in (railway["error"] or "")
        incident = text_of(browser, "#incidents tr")
        assert incident.startswith("railway\tdown") or incident.startswith("railway down")
        assert "ongoing" in incident
        browser.save_screenshot(str(tmp_path / "dashboard.png"))


AMBER = "rgb(217, 119, 6)"
READ_PAGE = """
const card = document.querySelector(`section.card[data-backend="${arguments[0]}"]`);
if (!card) return null;
return {
  legend: card.querySelector('[data-role="legend"]')?.innerText ?? "",
  axis: card.querySelector('[data-role="y-max"]')?.textContent ?? "",
  lastCheck: card.querySelector('dd[data-field="Last check"]')?.textContent ?? "",
  healthy: card.querySelector('dd[data-field="Fully healthy 24 h"]')?.textContent ?? "",
};
"""


def test_a_degraded_backend_is_amber_and_the_banner_claims_only_what_it_compared(
    migrated: Cluster, logs: Path, browser: WebDriver, tmp_path: Path
) -> None:
    whole = start_backend(migrated, logs, "page-whole")
    degraded = start_degraded_backend(migrated, logs, "page-degraded")
    monitor = quick_monitor({"render": whole.base_url, "fly": degraded.base_url}, tmp_path)
    try:
        with monitor:
            browser.get(monitor.base_url + "/")
            wait = WebDriverWait(browser, 20, poll_frequency=0.1)
            wait.until(lambda d: card_status(d, "fly") == "degraded")
            fly = card(browser, "fly")
            assert fly is not None
            assert (fly["badge"], fly["color"]) == ("DEGRADED", AMBER)
            assert "writes fail" in (fly["error"] or "")
            wait.until(lambda d: "ongoing" in text_of(d, "#incidents tr"))
            assert "degraded" in text_of(browser, "#incidents tr")
            wait.until(lambda d: "All 2 backends agree" in text_of(d, "#drift"))
            # The shares follow each round's checks: the first round's may come a refresh later.
            wait.until(lambda d: d.execute_script(READ_PAGE, "fly")["healthy"] == "0.00 %")
            page = browser.execute_script(READ_PAGE, "fly")
            assert "response time (ms)" in page["legend"]
            assert "degraded" in page["legend"]
            assert page["axis"].endswith(" ms")
            assert re.search(r"(UTC|GMT|[A-Z]{3,5})$", page["lastCheck"]), page["lastCheck"]
            assert page["healthy"] == "0.00 %"

            whole.stop()
            wait.until(lambda d: card_status(d, "render") == "down")
            banner = text_of(browser, "#drift")
            assert "All" not in banner
            assert "Not compared (down or not reporting): render" in banner
            browser.save_screenshot(str(tmp_path / "dashboard-degraded.png"))
    finally:
        whole.stop()
        degraded.stop()
