"""The browser tier: the console in headless Chromium (Debian's chromium and chromedriver)
against `stepwire local` in its own process, webhooks to a real receiver."""

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.api.test_api_http import stepwire_token
from tests.e2e.conftest import ROOT, LocalProcess, start_local, stop_local
from tests.support.receiver import Answer, Receiver

SCREENSHOTS = ROOT / "build" / "screenshots"
# What works on a headless machine without a GPU, a sandbox or outside network.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1280,900"]


def _installed(*names: str) -> dict[str, str]:
    found = {name: shutil.which(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: `apt-get install chromium chromium-driver`"
                    " (.ci/run installs them)", pytrace=False)
    return found  # type: ignore[return-value]


@pytest.fixture(scope="session")
def local() -> Iterator[LocalProcess]:
    running = start_local()
    try:
        yield running
    finally:
        code, output = stop_local(running)
        assert code == 0, f"stepwire local did not stop cleanly ({code}):\n{output}"


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """Answers 200, except on /failing while `failing` is set (400: dead-lettered at once)."""
    failing = threading.Event()
    with Receiver(lambda r: Answer(status=400 if failing.is_set() else 200)) as running:
        running.failing = failing
        yield running


@pytest.fixture(scope="session")
def tokens(local: LocalProcess) -> dict[str, str]:
    return {"admin": stepwire_token(local, "shop", "admin,publisher"),
            "reader": stepwire_token(local, "shop", "reader")}


@pytest.fixture(scope="session")
def api(local: LocalProcess, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local.api_url, timeout=30,
                      headers={"Authorization": f"Bearer {tokens['admin']}"}) as client:
        yield client


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    paths = _installed("chromium", "chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = paths["chromium"]
    profile = tempfile.mkdtemp(prefix="stepwire-chromium-")
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never looks for (or downloads) a driver.
    driver = webdriver.Chrome(options=options, service=Service(paths["chromedriver"]))
    # Statuses a test provokes on purpose (a refused create, a suspended tenant's 403):
    # Chromium logs every such answer of a fetch as an error.
    provoked: set[int] = set()
    driver.provoked_statuses = provoked  # type: ignore[attr-defined]
    try:
        yield driver
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
                  and "401" not in entry["message"]  # expected in the expired-token case
                  and not _provoked(entry, provoked)]
        assert not errors, f"the console logged errors: {errors}"
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _provoked(entry: dict, statuses: set[int]) -> bool:
    return entry.get("source") == "network" and any(
        f"status of {status} " in entry["message"] for status in statuses)


def screenshot(driver: WebDriver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
