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
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.cloud.api.conftest import issue_key
from tests.cloud.dashboard.world import DAY_MS, World
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


@pytest.fixture(autouse=True)
def _forget_the_language(browser: WebDriver) -> Iterator[None]:
    """Each test starts in the default language, whatever the previous one left behind.

    A test that fails midway would otherwise leave its language choice in
    ``localStorage`` and fail the next ones too.
    """
    yield
    browser.execute_script("try { localStorage.clear() } catch (e) {}")


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
    assert float(svg.get_attribute("data-y-max") or 0) < 50  # the fault reads 60
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
    # read in one go: the table is redrawn when a gateway's presence changes
    fields = driver.execute_script(
        "const row = document.querySelector(\"tr[data-gateway='gw-air-1']\");"
        "return Object.fromEntries([...row.querySelectorAll('[data-field]')]"
        ".map((e) => [e.dataset.field, e.textContent]).concat("
        "[['status', row.querySelector('.gw-status').textContent],"
        " ['devices', row.cells[4].textContent]]));"
    )
    assert fields["pending_readings"] == "17"
    assert "clock synced" in fields["status"]
    assert fields["oldest_unsent_age_s"] == "10 min"
    assert (fields["config_version"], fields["signal_csq"]) == ("2026-11-30.1", "14")
    assert "dev1: ok" in fields["devices"]
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


def _chart(driver: WebDriver) -> dict[str, float]:
    svg = driver.find_element(By.CSS_SELECTOR, ".chart svg")
    names = ("t0", "t1", "last-ms", "points", "flagged", "rule-limits", "flag-buckets")
    return {n: float(svg.get_attribute(f"data-{n}") or 0) for n in names}


def test_zoom_custom_range_rule_limits_and_flag_shares(
    browser: WebDriver, world: World, screenshot_dir: Path
) -> None:
    driver = browser
    driver.set_window_size(1280, 1000)
    _login(driver, world, issue_key(world.database_url, "analyst", "eeb"))
    driver.get(f"{world.base_url}/station/{world.sites['air-1']}?range=30d&quantity=pm2_5")
    _wait(driver, "return document.body.dataset.ready === '1'")
    month = _chart(driver)
    # the rule watching air-1's PM2.5 is drawn; hourly means show the flagged share per bucket
    assert month["rule-limits"] == 1
    assert "PM2.5 high" in driver.find_element(By.CSS_SELECTOR, ".rule-limit").text
    assert month["flag-buckets"] >= 1
    assert driver.find_elements(By.CSS_SELECTOR, ".chart rect.share")
    driver.save_screenshot(str(screenshot_dir / "station-30d-rules-flags.png"))

    # drag across the middle fifth of the plot: a custom range of about six days
    hit = driver.find_element(By.CSS_SELECTOR, ".chart .hit")
    width = hit.rect["width"]
    ActionChains(driver).move_to_element_with_offset(
        hit, -width * 0.1, 0
    ).click_and_hold().move_by_offset(width * 0.2, 0).release().perform()
    _wait(driver, "return document.body.dataset.chartRange.startsWith('custom:')")
    zoomed = _chart(driver)
    span = zoomed["t1"] - zoomed["t0"]
    assert 4 * DAY_MS < span < 8 * DAY_MS
    assert month["t0"] < zoomed["t0"] < zoomed["t1"] < month["t1"]
    # 10-minute means, and the line reaches the end of the range
    assert 0 <= zoomed["t1"] - zoomed["last-ms"] <= 15 * 60_000
    assert "range=custom" in driver.current_url
    driver.save_screenshot(str(screenshot_dir / "station-zoomed.png"))

    # the picker: the last hour but ten minutes, in the station's zone; raw readings and flags
    end_ms = int(time.time() * 1000) - 10 * 60_000
    driver.execute_script(
        "const f = document.getElementById('custom');"
        "f.from.value = arguments[0]; f.to.value = arguments[1]; f.requestSubmit();",
        _local(end_ms - 3600_000),
        _local(end_ms),
    )
    _wait(
        driver,
        "return document.body.dataset.chartRange.startsWith('custom:') && "
        "Number(document.querySelector('.chart svg').dataset.t1) - "
        "Number(document.querySelector('.chart svg').dataset.t0) <= 3600000",
    )
    picked = _chart(driver)
    assert picked["flagged"] == 1  # the fault reading 20 minutes ago, drawn as a diamond
    assert 0 <= picked["t1"] - picked["last-ms"] <= 60_000
    driver.save_screenshot(str(screenshot_dir / "station-picked-hour.png"))

    driver.find_element(By.ID, "reset").click()
    _wait(driver, "return document.body.dataset.chartRange === '30d'")
    assert abs(_chart(driver)["t1"] - time.time() * 1000) < 60_000

    # every preset reaches now, whichever means it is drawn from (the station keeps reporting)
    world.store("gw-air-1", [Reading("dev1", "pm2_5", int(time.time() * 1000) - 1000, 20.0)])
    for preset in ("6h", "24h", "7d", "1y"):
        driver.find_element(By.CSS_SELECTOR, f"[data-range='{preset}']").click()
        _wait(driver, f"return document.body.dataset.chartRange === '{preset}'")
        chart = _chart(driver)
        assert chart["points"] > 2, preset
        assert abs(chart["last-ms"] - time.time() * 1000) < 60_000, preset

    # the picker and the presets fit a phone
    driver.set_window_size(390, 844)
    driver.refresh()
    _wait(driver, "return document.body.dataset.ready === '1'")
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
    driver.save_screenshot(str(screenshot_dir / "station-phone.png"))
    driver.set_window_size(1280, 1000)


def _local(ms: int) -> str:
    """``YYYY-MM-DDTHH:MM`` in Asia/Shanghai, the stations' zone."""
    shanghai = datetime.fromtimestamp(ms / 1000, tz=ZoneInfo("Asia/Shanghai"))
    return shanghai.strftime("%Y-%m-%dT%H:%M")


def test_an_open_alarm_is_marked_on_its_quantitys_chart(
    browser: WebDriver, world: World, screenshot_dir: Path
) -> None:
    driver = browser
    driver.set_window_size(1280, 1000)
    _login(driver, world, issue_key(world.database_url, "analyst", "eeb"))
    station = world.sites["air-3"]
    driver.get(f"{world.base_url}/station/{station}?range=24h&quantity=pm2_5&quantity=no2")
    _wait(driver, "return document.body.dataset.ready === '1'")
    periods = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('.chart')].map((c) => "
        "[c.dataset.quantity, Number(c.querySelector('svg').dataset.alarmPeriods)]))"
    )
    # the alarm on air-3's PM2.5 (opened 10 min ago, still open) is on its chart only
    assert periods == {"pm2_5": 1, "no2": 0}
    band = driver.find_element(By.CSS_SELECTOR, ".chart[data-quantity='pm2_5'] .alarm-period")
    assert band.get_attribute("data-severity") == "critical"
    title = band.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert "pm25-high" in title
    assert "PM2.5 above 115" in title
    driver.save_screenshot(str(screenshot_dir / "station-alarm-period.png"))
