"""What a person sees: the dashboard in a real headless Chromium against real backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import HAVE_CHROMIUM
from tests.faults.harness import ApiServer
from tests.monitor.backends import MonitorProcess

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


def test_a_backend_turns_red_on_the_open_page_when_its_process_is_stopped(
    pair: tuple[ApiServer, ApiServer], browser: WebDriver, tmp_path: Path
) -> None:
    a, b = pair
    monitor = MonitorProcess(
        {"render": a.base_url, "railway": b.base_url},
        f"sqlite:///{tmp_path}/monitor.db",
        tmp_path / "monitor.log",
        MONITOR_INTERVAL_SECONDS="0.3",
        MONITOR_FAILURES_BEFORE_DOWN="2",
        MONITOR_REFRESH_SECONDS="0.5",
        MONITOR_TIMEOUT_SECONDS="2",
    )
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
