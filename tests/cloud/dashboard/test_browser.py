"""The dashboard in headless Chromium (Debian's chromium and chromedriver, driven by Selenium).

Logs in with a key, sees stations coloured by AQI level, opens a station's 24-hour
chart, sees a reading arrive live, switches language; an analyst of one department
sees only its stations. Screenshots go to ``test-output/dashboard/``. Render times
are printed (``-s`` shows them), never asserted.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.cloud.api.conftest import issue_key
from tests.cloud.dashboard.world import World
from wire import Reading

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 20

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver (see .ci/run)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile, nothing fetched from outside."""
    profile = tempfile.mkdtemp(prefix="shanshui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver: WebDriver, script: str) -> object:
    return WebDriverWait(driver, WAIT_S).until(lambda d: d.execute_script(script))


def _login(driver: WebDriver, world: World, key: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{world.base_url}/login")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(driver, "return document.body.dataset.ready === '1'")


def _station_rows(driver: WebDriver) -> dict[str, tuple[str, str]]:
    """Station id -> (AQI level, row text), read in one go (the list is redrawn live)."""
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#stations li[data-station]')]"
        ".map((li) => [li.dataset.station, li.dataset.level, li.innerText])"
    )
    return {sid: (level, text) for sid, level, text in rows}


def test_overview_station_chart_live_and_language(
    browser: WebDriver, world: World, screenshot_dir: Path
) -> None:
    driver = browser
    driver.set_window_size(1280, 1000)
    _login(driver, world, issue_key(world.database_url, "admin"))
    print(
        f"\noverview of {len(_station_rows(driver))} stations rendered at "
        f"{driver.execute_script('return document.body.dataset.renderMs')} ms after navigation"
    )
    rows = _station_rows(driver)
    assert rows[str(world.sites["air-1"])][0] == "1"
    assert "优" in rows[str(world.sites["air-1"])][1]
    assert rows[str(world.sites["air-2"])][0] == "2"
    assert "良" in rows[str(world.sites["air-2"])][1]
    assert rows[str(world.sites["air-3"])][0] == "4"
    assert "中度污染" in rows[str(world.sites["air-3"])][1]
    assert "超标" in rows[str(world.sites["noise-1"])][1]
    assert "未达标" in rows[str(world.sites["river-1"])][1]
    circles = driver.find_elements(By.CSS_SELECTOR, "svg.map circle")
    assert len(circles) == len(rows)
    driver.save_screenshot(str(screenshot_dir / "overview-zh.png"))

    air1 = world.sites["air-1"]
    # the station keeps reporting, as a simulated one does
    world.store("gw-air-1", [Reading("dev1", "pm2_5", int(time.time() * 1000) - 2000, 21.0)])
    driver.get(f"{world.base_url}/station/{air1}?range=24h&quantity=pm2_5")
    _wait(driver, "return document.body.dataset.ready === '1'")
    last_ms = int(
        driver.find_element(By.CSS_SELECTOR, ".chart svg").get_attribute("data-last-ms") or 0
    )
    assert abs(time.time() * 1000 - last_ms) < 60_000
    driver.save_screenshot(str(screenshot_dir / "station-24h.png"))

    # a new reading is pushed over server-sent events
    now_ms = int(time.time() * 1000)
    world.store("gw-air-1", [Reading("dev1", "pm2_5", now_ms, 25.0)])
    _wait(driver, f"return Number(document.body.dataset.lastLiveMs) >= {now_ms}")

    # raw readings for short ranges: the fault-flagged reading (3x the level) is drawn apart
    # and kept out of the scale
    driver.find_element(By.CSS_SELECTOR, "[data-range='1h']").click()
    _wait(driver, "return document.body.dataset.chartRange === '1h'")
    svg = driver.find_element(By.CSS_SELECTOR, ".chart svg")
    assert int(svg.get_attribute("data-flagged") or 0) >= 1
    assert float(svg.get_attribute("data-y-max") or 0) < 40
    driver.save_screenshot(str(screenshot_dir / "station-1h-flags.png"))

    driver.find_element(By.CSS_SELECTOR, "[data-range='30d']").click()
    _wait(driver, "return document.body.dataset.chartRange === '30d'")
    chart_ms = driver.execute_script("return document.body.dataset.chartMs")
    print(f"30-day chart loaded and drawn in {chart_ms} ms")
    driver.save_screenshot(str(screenshot_dir / "station-30d.png"))

    driver.find_element(By.ID, "lang").click()
    _wait(
        driver,
        "return document.body.dataset.ready === '1' && document.documentElement.lang === 'en'",
    )
    assert "Shanshui monitoring" in driver.find_element(By.CSS_SELECTOR, "header.top h1").text
    assert "PM2.5" in driver.find_element(By.ID, "charts").text
    driver.save_screenshot(str(screenshot_dir / "station-30d-en.png"))

    driver.get(f"{world.base_url}/gateways")
    _wait(driver, "return document.body.dataset.ready === '1'")
    # read in one script: a live update may re-render the row between two lookups
    pending, status = _wait(
        driver,
        "const r = document.querySelector(\"tr[data-gateway='gw-air-1']\");"
        " return r && [r.querySelector(\"[data-field='pending_readings']\").innerText,"
        " r.querySelector('.gw-status').innerText];",
    )  # type: ignore[misc]
    assert pending == "17"
    assert "clock synced" in status
    driver.save_screenshot(str(screenshot_dir / "gateways-en.png"))

    driver.set_window_size(390, 844)
    driver.get(f"{world.base_url}/gateway/gw-air-1")
    _wait(driver, "return document.body.dataset.ready === '1'")
    assert driver.find_elements(By.CSS_SELECTOR, ".tile[data-quantity='pm2_5']")
    status = driver.find_element(By.CSS_SELECTOR, ".gw-status [data-field='pending_readings']")
    assert status.text == "17"
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
    driver.save_screenshot(str(screenshot_dir / "technician-phone.png"))
    driver.execute_script("localStorage.clear()")


def test_bad_parameters_show_a_message(browser: WebDriver, world: World) -> None:
    driver = browser
    driver.set_window_size(1280, 1000)
    _login(driver, world, issue_key(world.database_url, "admin"))
    driver.get(f"{world.base_url}/station/abc?range=forever")
    _wait(driver, "return document.getElementById('message').textContent !== ''")
    assert "NaN" not in driver.find_element(By.TAG_NAME, "body").text
    driver.get(f"{world.base_url}/station/{world.sites['air-1']}?range=forever&quantity=nope")
    _wait(driver, "return document.body.dataset.ready === '1'")
    assert driver.find_element(By.ID, "message").text != ""
    assert driver.execute_script("return document.body.dataset.chartRange") == "24h"
    assert "NaN" not in driver.find_element(By.TAG_NAME, "body").text


def test_an_analyst_sees_only_the_stations_of_the_department(
    browser: WebDriver, world: World, screenshot_dir: Path
) -> None:
    driver = browser
    driver.set_window_size(1280, 1000)
    _login(driver, world, issue_key(world.database_url, "analyst", "water"))
    assert set(_station_rows(driver)) == {str(world.sites["river-1"])}
    driver.save_screenshot(str(screenshot_dir / "overview-water-analyst.png"))
    driver.get(f"{world.base_url}/station/{world.sites['air-1']}")
    _wait(driver, "return document.getElementById('message').textContent !== ''")
    assert not driver.find_elements(By.CSS_SELECTOR, ".chart svg")
    driver.get(f"{world.base_url}/gateways")
    _wait(driver, "return document.body.dataset.ready === '1'")
    gateways = {
        r.get_attribute("data-gateway")
        for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-gateway]")
    }
    assert gateways == {"gw-river-1"}


def test_acknowledge_an_alarm(browser: WebDriver, world: World, screenshot_dir: Path) -> None:
    driver = browser
    driver.set_window_size(1280, 1000)
    _login(driver, world, issue_key(world.database_url, "analyst", "eeb"))
    assert "报警 1" in _station_rows(driver)[str(world.sites["air-3"])][1]
    driver.get(f"{world.base_url}/alarms")
    _wait(driver, "return document.body.dataset.ready === '1'")
    row = driver.find_element(By.CSS_SELECTOR, "tr[data-state='open']")
    alarm_id = row.get_attribute("data-alarm")
    row.find_element(By.NAME, "comment").send_keys("technician on the way")
    row.find_element(By.CSS_SELECTOR, "button[value='ack']").click()
    _wait(
        driver,
        f"return document.querySelector(\"tr[data-alarm='{alarm_id}']\")?.dataset.state"
        " === 'acknowledged'",
    )
    assert "technician on the way" not in driver.find_element(By.ID, "message").text
    driver.save_screenshot(str(screenshot_dir / "alarms-acknowledged.png"))
