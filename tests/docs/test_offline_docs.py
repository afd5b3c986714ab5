"""/docs and /redoc render in a real headless Chromium with no internet: every file they
load comes from trackr itself (the installed package's Swagger UI and ReDoc)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from app.localcluster import Cluster
from tests.browser import browser, chromium
from tests.faults.harness import ApiServer, api_env

__all__ = ["browser", "chromium"]

RESOURCES = "return performance.getEntriesByType('resource').map(e => e.name)"
# Records what the page's Content-Security-Policy blocked, from before the page's own scripts.
WATCH_CSP = """
window.blocked = [];
document.addEventListener("securitypolicyviolation", e => window.blocked.push(e.blockedURI));
"""


def _load(browser: WebDriver, url: str) -> None:
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
    browser.get(url)


def _fetched_elsewhere(browser: WebDriver, base_url: str) -> list[str]:
    """Files the page fetched from anywhere but trackr (a blocked attempt is not a fetch)."""
    loaded: list[str] = browser.execute_script(RESOURCES)
    blocked: list[str] = browser.execute_script("return window.blocked")
    assert loaded, "the page loaded nothing"
    return [url for url in loaded if not url.startswith(base_url) and url not in blocked]


@pytest.fixture(scope="module")
def server(migrated: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    api = ApiServer(api_env(migrated), tmp_path_factory.mktemp("docs") / "serve.log")
    api.start()
    try:
        yield api
    finally:
        api.stop()


def _operations(server: ApiServer) -> int:
    import httpx

    spec = httpx.get(f"{server.base_url}/openapi.json", timeout=5).json()
    return sum(len(methods) for methods in spec["paths"].values())


@pytest.mark.slow
def test_swagger_ui_renders_every_operation_offline(
    server: ApiServer, browser: WebDriver, tmp_path: Path
) -> None:
    _load(browser, f"{server.base_url}/docs")
    expected = _operations(server)
    WebDriverWait(browser, 20).until(
        lambda b: len(b.find_elements("css selector", ".opblock")) >= expected
    )
    paths = {e.text for e in browser.find_elements("css selector", ".opblock-summary-path")}
    assert {"/api/products", "/api/products/{product_id}", "/health"} <= paths
    assert _fetched_elsewhere(browser, server.base_url) == []
    browser.save_screenshot(str(tmp_path / "docs.png"))


@pytest.mark.slow
def test_redoc_renders_offline(server: ApiServer, browser: WebDriver) -> None:
    _load(browser, f"{server.base_url}/redoc")
    WebDriverWait(browser, 20).until(
        lambda b: "List products" in b.execute_script("return document.body.innerText")
    )
    assert _fetched_elsewhere(browser, server.base_url) == []
