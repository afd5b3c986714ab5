"""A page on another origin uses the TypeScript client in real headless Chromium: it lists,
filters, creates and reads back products against three backends, one killed and one hung.
The browser enforces CORS for real: a page from an origin the API does not allow gets nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait
from trackr_client import TrackrClient

from app.localcluster import Cluster
from app.localcluster.ports import free_port
from tests.browser import HAVE_CHROMIUM
from tests.client.backends import MAC, Trio
from tests.client.frontend import page_url, serve_frontend

pytestmark = pytest.mark.slow

if not HAVE_CHROMIUM:
    pytest.skip("Debian's chromium + chromium-driver are not installed", allow_module_level=True)

COIN = {
    "category": "coins",
    "name": "Krugerrand 1oz",
    "price": 2450.0,
    "attributes": {"country": "South Africa", "denomination": "1 oz", "metal": "gold"},
}
TIMEOUT_MS = 1500  # per attempt: what the hung backend costs the page's first request

ROWS = """
return [...document.querySelectorAll('#products tr')].map(
  (row) => ({id: Number(row.dataset.id), category: row.dataset.category,
             name: row.children[1].textContent}));
"""


def rows(driver: WebDriver) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = driver.execute_script(ROWS)
    return found


def text(driver: WebDriver, selector: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, selector).text)


def test_the_page_lists_creates_and_reads_back_with_backends_down(
    typescript_client: Path, trio: Trio, clean_db: Cluster, browser: WebDriver
) -> None:
    with TrackrClient([trio.healthy.base_url], token=trio.token) as api:
        coin = api.create_product(COIN)
        api.update_product(coin.id, {"price": 2475.0})
        mac = api.create_product(MAC)
    backends = [trio.killed.base_url, trio.hung.base_url, trio.healthy.base_url]
    with serve_frontend(trio.frontend_origin) as page, trio.frozen():
        browser.get(page_url(page, backends, trio.token, TIMEOUT_MS))
        wait = WebDriverWait(browser, 30, poll_frequency=0.1)
        wait.until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")
        assert {row["id"] for row in rows(browser)} == {coin.id, mac.id}
        assert text(browser, "#served-by").startswith(f"served by {trio.healthy.base_url}")
        chips = [
            chip.get_attribute("data-state")
            for chip in browser.find_elements(By.CSS_SELECTOR, "#backends li")
        ]
        assert chips == ["open", "open", "closed"]  # killed and hung skipped for the cool-down

        Select(browser.find_element(By.ID, "category")).select_by_value("coins")
        wait.until(lambda d: [row["id"] for row in rows(d)] == [coin.id])
        browser.find_element(By.CSS_SELECTOR, f'#products tr[data-id="{coin.id}"]').click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history-points li")) == 2)
        assert "2,475.00" in text(browser, "#history-points li:first-child")

        form = browser.find_element(By.ID, "create")
        Select(form.find_element(By.NAME, "category")).select_by_value("mac")
        form.find_element(By.NAME, "name").send_keys("MacBook Air M3")
        form.find_element(By.NAME, "price").send_keys("1099")
        attributes = form.find_element(By.NAME, "attributes")
        attributes.clear()
        attributes.send_keys('{"model": "MacBook Air", "chip": "M3", "year": 2024, "ram_gb": 16}')
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: d.find_element(By.ID, "created").get_attribute("data-id"))
        created = text(browser, "#created")
        assert f"read back from {trio.healthy.base_url}" in created
        assert "with token " in created
    created_id = int(browser.find_element(By.ID, "created").get_attribute("data-id") or 0)
    with TrackrClient([trio.healthy.base_url]) as api:
        assert api.get_product(created_id).name == "MacBook Air M3"


def test_a_page_from_an_origin_the_api_does_not_allow_gets_nothing(
    typescript_client: Path, trio: Trio, clean_db: Cluster, browser: WebDriver
) -> None:
    stranger = f"http://127.0.0.1:{free_port()}"  # not in the backends' CORS_ALLOW_ORIGINS
    with serve_frontend(stranger) as page:
        browser.get(page_url(page, [trio.healthy.base_url], trio.token, TIMEOUT_MS))
        wait = WebDriverWait(browser, 30, poll_frequency=0.1)
        wait.until(lambda d: d.execute_script("return document.body.dataset.ready") == "true")
        assert rows(browser) == []
        assert "No backend answered" in text(browser, "#error")
