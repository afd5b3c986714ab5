"""What a person sees: the dashboard in a real headless Chromium against real backends."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.faults.harness import ApiServer
from tests.monitor.backends import MonitorProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
GREEN, RED = "rgba(22, 163, 74, 1)", "rgba(220, 38, 38, 1)"

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium + chromium-driver are not installed", allow_module_level=True)

# Flags for a root, headless, offline machine (background networking would dial Google).
CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]


def chromium(profile: Path) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROME_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    driver = chromium(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def card_status(driver: WebDriver, name: str) -> str | None:
    cards = driver.find_elements(By.CSS_SELECTOR, f'section.card[data-backend="{name}"]')
    return cards[0].get_attribute("data-status") if cards else None


def badge(driver: WebDriver, name: str) -> tuple[str, str]:
    element = driver.find_element(
        By.CSS_SELECTOR, f'section.card[data-backend="{name}"] [data-role="status"]'
    )
    return element.text, element.value_of_css_property("background-color")


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
        assert badge(browser, "railway") == ("UP", GREEN)
        assert "agree" in browser.find_element(By.ID, "drift").text

        b.stop()  # SIGTERM: the railway backend's process is gone
        wait.until(lambda d: card_status(d, "railway") == "down")  # no reload: auto-refresh
        assert badge(browser, "railway") == ("DOWN", RED)
        assert badge(browser, "render") == ("UP", GREEN)
        railway = browser.find_element(By.CSS_SELECTOR, 'section.card[data-backend="railway"]')
        assert "connection refused" in railway.find_element(By.CSS_SELECTOR, ".error").text
        incident = browser.find_element(By.CSS_SELECTOR, "#incidents tr")
        assert incident.text.startswith("railway down")
        assert "ongoing" in incident.text
        browser.save_screenshot(str(tmp_path / "dashboard.png"))
