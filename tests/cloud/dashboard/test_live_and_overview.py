"""The dashboard's read routes over real HTTP: overview, live events, docs with local assets.

The live channel is tested through a real uvicorn server (a stream never ends, so
an in-process test client cannot read it): an analyst of one department gets
nothing of another's over it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from cloud.api.routes import live as live_route
from tests.cloud.api.conftest import bearer, issue_key
from tests.cloud.dashboard.world import PERF_STATIONS, World
from wire import Reading

TIMEOUT_S = 20.0


def _client(world: World, token: str) -> httpx.Client:
    return httpx.Client(base_url=world.base_url, headers=bearer(token), timeout=TIMEOUT_S)


def _events(response: httpx.Response) -> Iterator[tuple[str, dict[str, object]]]:
    event = "message"
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, json.loads(line[6:])
            event = "message"
        elif line.startswith(":"):
            yield "comment", {}  # a keep-alive: lets a reader give up in time


def test_the_overview_rates_each_station_of_the_scope(world: World) -> None:
    with _client(world, issue_key(world.database_url, "admin")) as client:
        everything = client.get("/api/v1/overview").json()
        eeb = client.get("/api/v1/overview", params={"department": "eeb"}).json()
        water = client.get("/api/v1/overview", params={"monitoring_type": "surface_water"}).json()
    assert len(everything) == PERF_STATIONS + 5
    by_name = {s["name"]: s for s in eeb}
    assert set(by_name) == {"air-1", "air-2", "air-3", "noise-1"}
    assert by_name["air-3"]["rating"]["category"] == "中度污染"
    assert by_name["air-1"]["gateways"][0]["presence"] == "online"
    assert by_name["noise-1"]["rating"]["exceeds"]
    assert [s["name"] for s in water] == ["river-1"]
    ranks = [(s["rating"] or {}).get("rank", 0) for s in everything]
    assert ranks == sorted(ranks, reverse=True)


def test_an_analyst_overview_holds_only_the_department(world: World) -> None:
    with _client(world, issue_key(world.database_url, "analyst", "water")) as client:
        names = [s["name"] for s in client.get("/api/v1/overview").json()]
        outline = client.get("/api/v1/map/outline").json()
    assert names == ["river-1"]
    assert outline["type"] == "FeatureCollection"


def test_the_live_channel_carries_nothing_of_another_department(world: World) -> None:
    with _client(world, issue_key(world.database_url, "analyst", "water")) as client:
        assert (
            client.get("/api/v1/live", params={"station": world.sites["air-1"]}).status_code == 404
        )
        with client.stream("GET", "/api/v1/live") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            now_ms = int(time.time() * 1000)
            world.store("gw-air-1", [Reading("dev1", "pm2_5", now_ms, 33.0)])
            world.store("gw-river-1", [Reading("dev1", "dissolved_oxygen", now_ms + 1, 6.0)])
            seen = []
            for event, data in _events(response):
                seen.append((event, data))
                if event == "reading" and data["time_ms"] == now_ms + 1:
                    break
    gateways = {str(data["gateway"]) for _, data in seen}
    assert gateways == {"gw-river-1"}
    assert ("reading", "dissolved_oxygen") in {(e, d.get("quantity")) for e, d in seen}


def test_a_station_stream_pushes_its_new_readings(world: World) -> None:
    with _client(world, issue_key(world.database_url, "admin")) as client:
        station = world.sites["air-2"]
        with client.stream("GET", "/api/v1/live", params={"station": station}) as response:
            now_ms = int(time.time() * 1000)
            world.store("gw-air-2", [Reading("dev1", "no2", now_ms, 41.0)])
            for event, data in _events(response):
                if event == "reading" and data["time_ms"] == now_ms:
                    assert (data["station"], data["value"], data["quality"]) == (station, 41.0, "N")
                    break


def test_docs_and_redoc_use_local_assets(world: World) -> None:
    with httpx.Client(base_url=world.base_url, timeout=TIMEOUT_S) as client:
        for page, asset in (
            ("/docs", "/static/vendor/swagger-ui/swagger-ui-bundle.js"),
            ("/docs", "/static/vendor/swagger-ui/swagger-ui.css"),
            ("/redoc", "/static/vendor/redoc/redoc.standalone.js"),
        ):
            html = client.get(page).text
            assert asset in html
            assert "cdn" not in html.lower()
            assert client.get(asset).status_code == 200
        assert "fonts.googleapis" not in client.get("/redoc").text


def test_pages_need_a_key(world: World) -> None:
    with httpx.Client(base_url=world.base_url, timeout=TIMEOUT_S) as client:
        for page in ("/", f"/station/{world.sites['air-1']}", "/gateways", "/gateway/gw-air-1"):
            response = client.get(page, follow_redirects=False)
            assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_dashboard_alarm_actions_need_the_header_and_the_scope(world: World) -> None:
    with httpx.Client(base_url=world.base_url, timeout=TIMEOUT_S) as client:
        eeb = client.get("/api/v1/alarms", headers=bearer(issue_key(world.database_url)))
        alarm_id = eeb.json()[0]["id"]
        url = f"/dashboard/alarms/{alarm_id}/resolve"
        water = issue_key(world.database_url, "analyst", "water")
        client.cookies.set("shanshui_key", water)
        # a cross-site form: no header, no JSON
        assert client.post(url, data={"comment": "x"}).status_code == 403
        header = {"X-Shanshui-Dashboard": "1"}
        assert client.post(url, json={"comment": "x"}, headers=header).status_code == 404
        client.cookies.set("shanshui_key", issue_key(world.database_url, "sharing", "eeb"))
        assert client.post(url, json={"comment": "x"}, headers=header).status_code == 403


def test_open_streams_share_one_poll_of_the_database(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = world.app.state.live_hub
    storage = world.app.state.storage
    used: list[str] = []
    original = storage._connection

    def counting(doing: str, timeout_s: float | None = None) -> object:
        used.append(doing)
        return original(doing, timeout_s)

    # no stream re-reads its scope while counting, however slow the machine
    monkeypatch.setattr(live_route, "RESCOPE_S", 3600.0)
    key = issue_key(world.database_url, "admin")
    streams = 6
    with ExitStack() as stack:
        clients = [stack.enter_context(_client(world, key)) for _ in range(streams)]
        responses = [
            stack.enter_context(c.stream("GET", "/api/v1/live", params={"readings": "true"}))
            for c in clients
        ]
        readers = [_events(r) for r in responses]

        def each_sees(time_ms: int) -> None:
            deadline = time.monotonic() + 60
            for events in readers:
                for event, data in events:
                    if event == "reading" and data["time_ms"] == time_ms:
                        break
                    assert time.monotonic() < deadline, f"reading at {time_ms} not pushed"

        first_ms = int(time.time() * 1000)
        world.store("gw-air-2", [Reading("dev1", "no2", first_ms, 40.0)])
        each_sees(first_ms)
        assert hub.listeners >= streams
        storage._connection = counting
        try:
            ticks = hub.ticks
            second_ms = first_ms + 1000
            world.store("gw-air-3", [Reading("dev1", "no2", second_ms, 42.0)])
            each_sees(second_ms)
            ticks = hub.ticks - ticks
        finally:
            del storage._connection
    print(f"\n{streams} streams: {len(used)} database queries in {ticks} polls")
    # whatever the number of streams: a few queries per poll (batches, readings, gateways)
    # (a poll may straddle the start or the end of the count)
    assert ticks >= 1
    assert len(used) <= 3 * (ticks + 1)
    assert len(used) < 2 * streams * ticks  # one poll per stream would read twice per stream


def test_signed_in_pages_share_one_document_around_their_main(world: World) -> None:
    with httpx.Client(base_url=world.base_url, timeout=TIMEOUT_S) as client:
        client.cookies.set("shanshui_key", issue_key(world.database_url, "admin"))
        for page, script, element in (
            ("/", "overview.js", 'id="map"'),
            (f"/station/{world.sites['air-1']}", "station.js", 'id="charts"'),
            ("/alarms", "alarms.js", 'id="content"'),
            ("/gateways", "gateways.js", 'id="content"'),
            ("/gateway/gw-air-1", "gateway.js", 'id="content"'),
        ):
            html = client.get(page).text
            assert html.startswith("<!doctype html>")
            assert f'<script type="module" src="/static/{script}">' in html
            assert "<noscript>" in html
            assert element in html
            assert "{{" not in html


def test_a_gateways_late_batch_is_pushed_after_newer_readings_of_another(world: World) -> None:
    start_ms = int(time.time() * 1000)
    world.store("gw-air-2", [Reading("dev1", "o3", start_ms - 120_000, 80.0)])
    with (
        _client(world, issue_key(world.database_url, "admin")) as client,
        client.stream("GET", "/api/v1/live") as response,
    ):
        events = _events(response)
        now_ms = int(time.time() * 1000)
        world.store("gw-air-1", [Reading("dev1", "pm2_5", now_ms, 30.0)])
        _until(events, "gw-air-1", now_ms)
        # measured half a minute ago, arriving only now (a slow link, a batch of minutes)
        world.store("gw-air-2", [Reading("dev1", "o3", now_ms - 30_000, 81.0)])
        _until(events, "gw-air-2", now_ms - 30_000)


def _until(events: Iterator[tuple[str, dict[str, object]]], gateway: str, time_ms: int) -> None:
    deadline = time.monotonic() + 60
    for event, data in events:
        if event == "reading" and (data["gateway"], data["time_ms"]) == (gateway, time_ms):
            return
        assert time.monotonic() < deadline, f"{gateway}'s reading at {time_ms} not pushed"
    raise AssertionError("the stream ended")
