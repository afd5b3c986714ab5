"""`make frontend-screenshot`: examples/frontend in headless Chromium on its own origin, against
three local backends on a seeded cluster (the first killed, the second hung), as a PNG."""

from __future__ import annotations

import sys
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import chromium
from tests.client import typescript
from tests.client.backends import trio_on_new_cluster
from tests.client.frontend import page_url, serve_frontend

OUTPUT = Path("docs/images/frontend.png")


def main(output: Path = OUTPUT) -> None:
    typescript.build()
    with trio_on_new_cluster("frontend-shot", seeded=True) as (trio, base):
        backends = [trio.killed.base_url, trio.hung.base_url, trio.healthy.base_url]
        driver = chromium(base / "profile")
        try:
            with serve_frontend(trio.frontend_origin) as page, trio.frozen():
                driver.set_window_size(1400, 1000)
                driver.get(page_url(page, backends, trio.token, 1500))
                wait = WebDriverWait(driver, 30, poll_frequency=0.1)
                ready = "return document.body.dataset.ready"
                wait.until(lambda d: d.execute_script(ready) == "true")
                Select(driver.find_element(By.ID, "category")).select_by_value("coins")
                row = "#products tr[data-category=coins]"
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, row))
                driver.find_element(By.CSS_SELECTOR, row).click()
                history = "#history-points li"
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, history))
                form = driver.find_element(By.ID, "create")
                Select(form.find_element(By.NAME, "category")).select_by_value("coins")
                form.find_element(By.NAME, "name").send_keys("Britannia 1oz")
                form.find_element(By.NAME, "price").send_keys("38.50")
                form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
                wait.until(lambda d: d.find_element(By.ID, "created").get_attribute("data-id"))
                output.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(output))
        finally:
            driver.quit()
    print(f"wrote {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
