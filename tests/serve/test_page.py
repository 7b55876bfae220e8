"""The page at `/` in a real headless browser (Debian's chromium and chromedriver, driven by selenium)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
webdriver = pytest.importorskip("selenium.webdriver")

from tests.serve.server_calls import Server  # noqa: E402

CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("CTXEMBED_TEST_ARTIFACTS", "runs/test-artifacts"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMEDRIVER is None, reason="needs chromium and chromedriver (make system-deps installs them)"),
]


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_the_page_shows_every_indexs_hits_side_by_side(index_dirs, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    server = Server(str(index_dirs / "static"), str(index_dirs / "contextual")).start()
    try:
        browser.get(f"http://127.0.0.1:{server.port}/")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
        box = browser.find_element(By.ID, "query")
        box.send_keys("river bank water")
        browser.find_element(By.ID, "search-go").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".column")) == 4)  # 2 indexes x (dense, hybrid)
        wait.until(lambda d: all(c.find_elements(By.CSS_SELECTOR, ".hit .score") for c in d.find_elements(By.CSS_SELECTOR, ".column")))  # fmt: skip
        columns = browser.find_elements(By.CSS_SELECTOR, ".column")
        assert {(c.get_attribute("data-index"), c.get_attribute("data-mode")) for c in columns} == {
            ("static", "dense"), ("static", "hybrid"), ("contextual", "dense"), ("contextual", "hybrid"),
        }  # fmt: skip
        assert browser.find_elements(By.CSS_SELECTOR, ".hit mark")  # query words highlighted in the snippets
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "serve-page-search.png"))
        browser.find_element(By.ID, "tab-senses").click()
        browser.find_element(By.ID, "word").send_keys("bank")
        browser.find_element(By.ID, "senses-go").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#senses-out svg circle")))
        assert browser.find_elements(By.CSS_SELECTOR, ".sense li mark")
        assert browser.save_screenshot(str(ARTIFACTS / "serve-page-senses.png"))
    finally:
        server.stop()
