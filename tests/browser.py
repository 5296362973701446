"""Open a report page in a real headless Chromium (through Selenium and chromedriver) and check it as a reader's
browser sees it: no console errors, nothing fetched but the file itself and data: URIs, every chart and picture
drawn with a size, and a full-page screenshot to look at."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

# every <svg> and <img> of the page (not the parts inside an SVG): its drawn size, and whether an image decoded
DRAWN = """return Array.from(document.querySelectorAll('svg, img'))
  .filter(e => !e.parentElement.closest('svg'))
  .map(e => { const r = e.getBoundingClientRect();
              return [e.tagName, r.width, r.height, e.tagName !== 'IMG' || e.naturalWidth > 0]; });"""


def _browser_or_skip() -> tuple[str, str]:
    """chromium and chromedriver, or a skip; on CI (env CI set) a missing browser fails, as CI installs it."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        reason = "chromium and chromedriver are needed: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI installs them in .ci/run)")
        pytest.skip(reason)
    return chromium, driver


def _driver(chromium: str, driver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver))


def _requests(performance_log: list[dict]) -> list[str]:
    """The URLs of every request the page made, from the DevTools events in the performance log."""
    urls = []
    for entry in performance_log:
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _fit_window(driver, width: int = 1280) -> None:
    """Make the viewport as tall as the document, so one screenshot holds the whole page. The window's frame takes
    some of its height (measured at the size the page opened with), and a resize takes effect a moment later."""
    from selenium.webdriver.support.wait import WebDriverWait

    height = driver.execute_script("return document.documentElement.scrollHeight")
    frame = driver.get_window_size()["height"] - driver.execute_script("return window.innerHeight")
    driver.set_window_size(width, height + frame)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.innerHeight") >= height,
                                    "the page does not fit the window")


def check_page(page: Path, folder: Path) -> Path:
    """Open `page` (a file) in headless Chromium, assert that it loads cleanly and draws every `<svg>` and `<img>`
    with a non-zero size, and save a full-page screenshot into `folder`; returns the screenshot's path."""
    chromium, driver_path = _browser_or_skip()
    url = page.resolve().as_uri()
    driver = _driver(chromium, driver_path)
    try:
        driver.get(url)
        fetched = [u for u in _requests(driver.get_log("performance")) if u != url and not u.startswith("data:")]
        assert not fetched, f"{page.name} fetched {fetched}"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"console errors on {page.name}: {errors}"
        drawn = driver.execute_script(DRAWN)
        assert drawn, f"{page.name} draws no chart or picture"
        empty = [d for d in drawn if not (d[1] > 0 and d[2] > 0 and d[3])]
        assert not empty, f"{page.name}: not drawn, or without a size: {empty}"
        _fit_window(driver)
        folder.mkdir(parents=True, exist_ok=True)
        shot = folder / f"{page.stem}.png"
        assert driver.save_screenshot(str(shot)), f"no screenshot of {page.name}"
        return shot
    finally:
        driver.quit()
