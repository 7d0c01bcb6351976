"""Browser fixtures: the app served on 127.0.0.1 and headless Chromium driven by Selenium.

Each test gets a live server on the ``app`` fixture's database (tests/conftest.py) and
a ``browser(...)`` factory. Every browser collects the console (``goog:loggingPrefs``)
and Content-Security-Policy violations (a ``securitypolicyviolation`` listener installed
before any page script runs); a test ends with ``b.assert_clean()`` and the fixture checks
again at teardown, so no console error or CSP violation goes unnoticed.

Needs ``chromium`` and ``chromedriver`` (Debian: ``apt-get install chromium
chromium-driver``) and the ``selenium`` package; without them the browser tests skip.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

try:
    from selenium import webdriver
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # the browser fixture skips
    webdriver = None

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BINARY") or shutil.which("chromium") or shutil.which(
    "chromium-browser")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
MOBILE = (360, 780)
DESKTOP = (1280, 900)
WAIT_SECONDS = 15


# Runs before any script of every page: records CSP violations where the test can read them.
CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI,
                               source: e.sourceFile, line: e.lineNumber});
});
"""
STATUS_RE = re.compile(r"status of (\d{3})")


class Browser:
    """A Selenium driver with explicit waits and the page-health bookkeeping."""

    def __init__(self, driver, base_url: str) -> None:
        self.driver = driver
        self.base = base_url
        self.console: list[dict] = []
        self.violations: list[dict] = []
        self.allowed_statuses: set[int] = set()

    # -- navigation and waits -------------------------------------------------------------
    def open(self, path: str) -> None:
        self.collect()
        self.driver.get(self.base + path)
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete")

    def wait(self, condition: Callable, timeout: float = WAIT_SECONDS, message: str = ""):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition)
        except TimeoutException:
            self.collect()
            raise AssertionError(
                f"timed out: {message or condition}\nconsole: {self.console}\n"
                f"violations: {self.violations}") from None

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css: str, timeout: float = WAIT_SECONDS):
        def shown(d):
            found = d.find_elements(By.CSS_SELECTOR, css)
            return found[0] if found and found[0].is_displayed() else False
        return self.wait(shown, timeout, f"{css} visible")

    def gone(self, css: str) -> None:
        def hidden(d):
            return not any(e.is_displayed() for e in d.find_elements(By.CSS_SELECTOR, css))
        self.wait(hidden, message=f"{css} hidden")

    def attr_is(self, css: str, name: str, value: str, timeout: float = WAIT_SECONDS) -> None:
        self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css).get_attribute(name) == value,
                  timeout, f"{css}[{name}={value!r}] (is "
                  f"{self.driver.find_element(By.CSS_SELECTOR, css).get_attribute(name)!r})")

    def text_has(self, css: str, fragment: str, timeout: float = WAIT_SECONDS) -> str:
        def has(d):
            text = " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, css))
            return text if fragment in text else False
        return self.wait(has, timeout, f"{fragment!r} in {css}")

    def fill(self, css: str, value: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    def paste(self, css: str, value: str) -> None:
        """Set a long value at once (typing 300 characters of a token takes seconds)."""
        self.js("""const e = document.querySelector(arguments[0]); e.value = arguments[1];
                   e.dispatchEvent(new Event('input', {bubbles: true}));""", css, value)

    def choose(self, css: str, value: str) -> None:
        """Pick the option with ``value`` in a <select>."""
        Select(self.visible(css)).select_by_value(value)

    def click(self, css: str) -> None:
        """Click once the element is shown (and again if the page re-rendered it meanwhile)."""
        def clicked(d):
            try:
                found = d.find_elements(By.CSS_SELECTOR, css)
                if not found or not found[0].is_displayed():
                    return False
                d.execute_script("arguments[0].scrollIntoView({block: 'center'})", found[0])
                found[0].click()
                return True
            except (StaleElementReferenceException, ElementClickInterceptedException):
                return False
        self.wait(clicked, message=f"click {css}")

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    # -- viewport and pictures ------------------------------------------------------------
    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        """A PNG of the page (all of it, up to 4000 px tall) in artifacts/screenshots/."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        if full_page:
            metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics["cssContentSize"]
            view = metrics["cssLayoutViewport"]
            clip = {"x": 0, "y": 0, "scale": 1, "width": view["clientWidth"],
                    "height": min(max(size["height"], view["clientHeight"]), 4000)}
            shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True, "clip": clip})
            path.write_bytes(base64.b64decode(shot["data"]))
        else:
            path.write_bytes(self.driver.get_screenshot_as_png())
        return path

    # -- page health ----------------------------------------------------------------------
    def collect(self) -> None:
        try:
            found = self.driver.execute_script("return window.__cspViolations || []")
        except Exception:  # noqa: BLE001 (a page in the middle of loading)
            found = []
        self.violations.extend(v for v in found if v not in self.violations)
        self.console.extend(self.driver.get_log("browser"))

    def errors(self) -> list[dict]:
        """Console errors, less the HTTP statuses this test expects (e.g. a 422 it provokes)."""
        out = []
        for entry in self.console:
            if entry["level"] != "SEVERE":
                continue
            status = STATUS_RE.search(entry["message"])
            if entry.get("source") == "network" and status and int(
                    status.group(1)) in self.allowed_statuses:
                continue
            out.append(entry)
        return out

    def assert_clean(self) -> None:
        self.collect()
        assert self.errors() == [], json.dumps(self.errors(), indent=1, ensure_ascii=False)
        assert self.violations == [], self.violations


def _options(user_data_dir: str, extra: list[str]):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-default-apps", "--disable-extensions", "--mute-audio",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                f"--user-data-dir={user_data_dir}", "--window-size=1280,900", *extra):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


def _launch(directory: Path, extra: list[str]):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=directory)
    driver = webdriver.Chrome(options=_options(profile, extra),
                              service=Service(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_PROBE})
    return driver


def _require_chromium() -> None:
    if webdriver is None:
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are needed "
                    "(apt-get install chromium chromium-driver)")


@pytest.fixture(scope="session")
def shared_chromium(tmp_path_factory):
    """One plain Chromium for the whole session (starting one costs a second or two).

    Each test serves the app on a new port, so its pages have a new origin and start
    with empty storage; the video tests get a browser of their own.
    """
    _require_chromium()
    drivers = []

    def get():
        if not drivers:
            drivers.append(_launch(tmp_path_factory.mktemp("chromium"), []))
        return drivers[0]

    yield get
    for driver in drivers:
        driver.quit()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def browser(live_server, tmp_path, shared_chromium) -> Iterator[Callable[..., Browser]]:
    """``browser(mobile=True, video=Path)`` -> headless Chromium on the live server.

    ``video`` is a Y4M file served as the camera (Chromium's fake capture device): such
    a browser is started for the test alone; others share the session's Chromium.
    """
    made: list[tuple[Browser, bool]] = []

    def make(mobile: bool = False, video: Path | None = None) -> Browser:
        if video is None:
            driver, own = shared_chromium(), False
            driver.get_log("browser")  # what an earlier test left behind
        else:
            driver, own = _launch(tmp_path, [
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}"]), True
        b = Browser(driver, live_server)
        b.viewport(*(MOBILE if mobile else DESKTOP), mobile=mobile)
        made.append((b, own))
        return b

    yield make
    problems = []
    for b, own in made:
        try:
            b.collect()
            if b.errors() or b.violations:
                problems.append((b.errors(), b.violations))
        finally:
            if own:
                b.driver.quit()
            else:  # leave nothing behind for the next test (a port may come round again)
                b.driver.get("about:blank")
                b.driver.execute_cdp_cmd("Storage.clearDataForOrigin", {
                    "origin": live_server, "storageTypes": "all"})
                b.driver.get_log("browser")
    assert not problems, f"browser console errors or CSP violations: {problems}"
