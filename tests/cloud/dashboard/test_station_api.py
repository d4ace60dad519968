"""What a station's charts read besides readings: rule thresholds and flagged shares per bucket."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.cloud.api.conftest import bearer, issue_key
from tests.cloud.dashboard.world import AIR1_RULE, World

TIMEOUT_S = 20.0


def _client(world: World, token: str) -> httpx.Client:
    return httpx.Client(base_url=world.base_url, headers=bearer(token), timeout=TIMEOUT_S)


def test_rule_limits_are_the_thresholds_watching_the_station(world: World) -> None:
    with _client(world, issue_key(world.database_url, "analyst", "eeb")) as client:
        air1 = client.get(f"/api/v1/sites/{world.sites['air-1']}/rule-limits").json()
        air2 = client.get(f"/api/v1/sites/{world.sites['air-2']}/rule-limits").json()
    assert air1 == [
        {
            "rule": AIR1_RULE.id,
            "name": "PM2.5 high",
            "quantity": "pm2_5",
            "direction": "above",
            "value": 35.0,
            "clear": None,
            "severity": "warning",
        }
    ]
    # a rule scoped to a station and no quantity watches each of its quantities (other
    # tests may add some)
    assert {x["rule"] for x in air2} == {"eeb-no2"}
    assert {x["quantity"] for x in air2} >= {"no2", "pm2_5"}


def test_rule_limits_keep_to_the_department(world: World) -> None:
    with _client(world, issue_key(world.database_url, "analyst", "water")) as client:
        other = client.get(f"/api/v1/sites/{world.sites['air-1']}/rule-limits")
        river = client.get(f"/api/v1/sites/{world.sites['river-1']}/rule-limits").json()
    assert other.status_code == 404
    assert {x["rule"] for x in river} == {"water-all"}


def test_aggregates_tell_the_flagged_share_of_each_bucket(world: World) -> None:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with _client(world, issue_key(world.database_url, "admin")) as client:
        for start, bucket in ((end - timedelta(days=2), "1h"), (end - timedelta(hours=2), "10min")):
            body = client.get(
                "/api/v1/aggregates",
                params={
                    "station": world.sites["air-1"],
                    "quantity": "pm2_5",
                    "bucket": bucket,
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "flags": "true",
                },
            ).json()
            (series,) = body["series"]
            # the world flags one reading 20 minutes ago as a fault
            (flagged,) = series["flagged"]
            assert flagged["readings"] - flagged["valid"] == 1
            assert flagged["valid"] >= 1
            assert 0 <= time.time() * 1000 - flagged["start_ms"] < 3 * 3600_000
        plain = client.get(
            "/api/v1/aggregates",
            params={"station": world.sites["air-1"], "quantity": "pm2_5", "bucket": "1h"},
        ).json()
    assert plain["series"][0]["flagged"] is None


def test_one_request_lists_every_gateway_with_devices_and_status(world: World) -> None:
    with _client(world, issue_key(world.database_url, "analyst", "eeb")) as client:
        gateways = client.get("/api/v1/gateways", params={"devices": "true"}).json()
        plain = client.get("/api/v1/gateways").json()
    by_id = {g["id"]: g for g in gateways}
    assert set(by_id) == {"gw-air-1", "gw-air-2", "gw-air-3", "gw-noise-1"}
    air1 = by_id["gw-air-1"]
    assert [(d["name"], d["health"], d["quantities"]) for d in air1["devices"]] == [
        ("dev1", "ok", ["no2", "pm2_5"])
    ]
    assert air1["status"]["config_version"] == "2026-11-30.1"
    assert (air1["status"]["signal_csq"], air1["status"]["oldest_unsent_age_s"]) == (14, 620)
    assert all(g["devices"] is None for g in plain)
