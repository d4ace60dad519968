"""The Agent end to end: simulated station -> poller -> outbox -> MQTT (real broker)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.app import Agent
from edge.config import load_config
from edge.outbox import OutboxStore
from edge.uplink.mqtt_topics import status_topic, telemetry_topic
from tests.edge.support import (
    SECRET,
    CloudAcker,
    Message,
    MqttProbe,
    TcpProxy,
    run,
    station_and_gateway,
    status_of,
)
from tests.fix_broker import BrokerAddress
from wire import Batch, open_envelope, verify_envelope


def verified(payload: bytes) -> Batch:
    return verify_envelope(open_envelope(payload), SECRET)


async def status_until(
    probe: MqttProbe, topic: str, condition: Callable[[dict[str, Any]], bool]
) -> tuple[Message, dict[str, Any]]:
    """The next status message on ``topic`` whose body satisfies ``condition``."""
    while True:
        message = await probe.next_on(topic)
        body: dict[str, Any] = status_of(message.payload)
        if condition(body):
            return message, body


def states(body: dict[str, Any]) -> dict[str, str]:
    return {device: entry["state"] for device, entry in body.get("devices", {}).items()}


async def retained_status(broker: BrokerAddress, topic: str) -> dict[str, Any]:
    """What a subscriber arriving now gets: the retained status."""
    async with MqttProbe(broker.host, broker.port, topic) as late:
        message = await late.next()
    assert message.retain
    body: dict[str, Any] = status_of(message.payload)
    return body


def test_agent_publishes_signed_batches_and_empties_the_outbox(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        async with station_and_gateway(
            tmp_path,
            gw,
            mqtt_port=mqtt_broker.port,
            topic_root=topic_root,
            slaves={"th1": 1, "th2": 2},
        ) as (station, path):
            station.set_value(2, "temperature", 85.0)  # over range: flagged, still sent
            config = load_config(path, environ={})
            topic = f"{topic_root}/{gw}/up/#"
            async with (
                MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe,
                CloudAcker(mqtt_broker.host, mqtt_broker.port, topic_root),
            ):
                async with Agent(config) as agent:
                    online = status_of((await probe.next_on(status_topic(topic_root, gw))).payload)
                    assert online == {
                        "state": "online",
                        "gw": gw,
                        "time_ms": online["time_ms"],
                        "devices": online["devices"],
                        "outbox": online["outbox"],
                        "uptime_s": online["uptime_s"],
                        "clock_synced": online["clock_synced"],
                        "forged_acks": 0,
                    }
                    assert set(online["devices"]) == {"th1", "th2"}
                    assert set(states(online).values()) <= {"unknown", "ok"}
                    assert set(online["outbox"]) == {
                        "pending_readings",
                        "unacked_batches",
                        "quarantined_batches",
                        "resent_batches",
                        "thinned_readings",
                    }
                    message = await probe.next_on(telemetry_topic(topic_root, gw))
                    batch = verified(message.payload)
                    assert batch.gateway_id == gw
                    values = {(r.device, r.quantity): (r.value, r.quality) for r in batch.readings}
                    assert values[("th1", "air_temperature")][0] == station.served(1)["temperature"]
                    assert values[("th2", "air_temperature")] == (85.0, "T")
                    health = await agent.wait_acked(batch.seq, timeout_s=10)
                    local = json.loads((config.data_dir / "status.json").read_bytes())
                    assert local["state"] == "online"  # for `shanshui edge status`
                    assert health.uplink_connected
                    assert {d.state for d in health.devices.values()} == {"ok"}
                    assert health.last_acked_seq is not None
                _, offline = await status_until(
                    probe, status_topic(topic_root, gw), lambda b: b["state"] == "offline"
                )
                assert offline == {"state": "offline", "gw": gw, "time_ms": offline["time_ms"]}
        store = OutboxStore.open(config.data_dir)
        try:
            counts = store.counts()
        finally:
            store.close()
        assert (counts.pending_readings, counts.unacked_batches) == (0, 0)  # flushed and acked
        assert json.loads((config.data_dir / "status.json").read_bytes())["state"] == "stopped"
        assert counts.next_seq > batch.seq

    run(scenario)


def test_batches_wait_for_an_unreachable_broker(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        proxy = TcpProxy(mqtt_broker.host, mqtt_broker.port)  # down: connects are refused
        async with station_and_gateway(
            tmp_path, gw, mqtt_port=proxy.port, topic_root=topic_root
        ) as (_, path):
            async with Agent(load_config(path, environ={})) as agent:
                health = await agent.wait_until(lambda h: h.unacked_batches >= 2, timeout_s=10)
                assert not health.uplink_connected
                assert health.last_acked_seq is None
                assert health.last_sealed_seq is not None
                first = health.last_sealed_seq - health.unacked_batches + 1  # none acked yet
                topic = telemetry_topic(topic_root, gw)
                async with (
                    MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe,
                    CloudAcker(mqtt_broker.host, mqtt_broker.port, topic_root),
                ):
                    await proxy.up()
                    await agent.wait_acked(first + 1, timeout_s=15)
                    seqs: list[int] = []
                    while not {first, first + 1} <= set(seqs):
                        seqs.append(verified((await probe.next()).payload).seq)
                    # the backlog oldest first, nothing lost (fresh batches may come between)
                    assert seqs.index(first) < seqs.index(first + 1)
            await proxy.close()

    run(scenario)


def test_unacked_batches_are_resent_after_a_reconnect(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        proxy = TcpProxy(mqtt_broker.host, mqtt_broker.port)
        await proxy.up()
        async with station_and_gateway(
            tmp_path, gw, mqtt_port=proxy.port, topic_root=topic_root
        ) as (_, path):
            topic = telemetry_topic(topic_root, gw)
            async with (
                MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe,
                CloudAcker(mqtt_broker.host, mqtt_broker.port, topic_root),
                Agent(load_config(path, environ={})) as agent,
            ):
                first = await agent.wait_until(lambda h: h.last_acked_seq is not None, 10)
                await proxy.down()
                down = await agent.wait_until(
                    lambda h: not h.uplink_connected and h.unacked_batches >= 2, timeout_s=10
                )
                waiting = down.last_sealed_seq
                assert waiting is not None
                await proxy.up()
                await agent.wait_until(lambda h: agent.is_acked(waiting), timeout_s=15)
                assert first.last_acked_seq is not None
                expected = set(range(first.last_acked_seq, waiting + 1))  # nothing lost between
                received: set[int] = set()
                while not expected <= received:
                    received.add(verified((await probe.next()).payload).seq)
        await proxy.close()

    run(scenario)


def test_seq_continues_after_a_restart(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        async with station_and_gateway(
            tmp_path, gw, mqtt_port=mqtt_broker.port, topic_root=topic_root
        ) as (_, path):
            async with CloudAcker(mqtt_broker.host, mqtt_broker.port, topic_root):
                async with Agent(load_config(path, environ={})) as agent:
                    before = await agent.wait_until(lambda h: h.last_acked_seq is not None, 10)
                async with Agent(load_config(path, environ={})) as agent:
                    after = await agent.wait_until(lambda h: h.last_acked_seq is not None, 10)
            assert before.last_acked_seq is not None
            assert after.last_acked_seq is not None
            assert after.last_acked_seq > before.last_acked_seq

    run(scenario)


def test_status_shows_a_dead_sensor_and_its_recovery(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        async with station_and_gateway(
            tmp_path,
            gw,
            mqtt_port=mqtt_broker.port,
            topic_root=topic_root,
            slaves={"th1": 1, "th2": 2},
        ) as (station, path):
            topic = status_topic(topic_root, gw)
            async with (
                MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe,
                Agent(load_config(path, environ={})),
            ):
                _, healthy = await status_until(
                    probe, topic, lambda b: states(b) == {"th1": "ok", "th2": "ok"}
                )
                station.set_offline(2, True)
                _, dead = await status_until(probe, topic, lambda b: states(b).get("th2") != "ok")
                assert dead["devices"]["th1"] == {"state": "ok"}
                assert dead["devices"]["th2"].pop("errors")["timeout"] >= 1  # counted by kind
                assert dead["devices"]["th2"] == {
                    "state": "degraded",
                    "error": "no response (timeout)",  # the poller's words, as in its log
                }
                retained = await retained_status(mqtt_broker, topic)
                assert retained["devices"]["th2"].pop("errors")["timeout"] >= 1
                assert retained == dead
                station.set_offline(2, False)
                _, back = await status_until(probe, topic, lambda b: states(b).get("th2") == "ok")
                # the counts stay after recovery: a flaky sensor shows in its history
                assert back["devices"]["th2"].pop("errors")["timeout"] >= 1
                assert back["devices"] == {"th1": {"state": "ok"}, "th2": {"state": "ok"}}
                retained = await retained_status(mqtt_broker, topic)
                retained["devices"]["th2"].pop("errors")
                assert retained["devices"] == back["devices"]
                # dead and back came from changes: at most one status a second
                times = [b["time_ms"] for b in (healthy, dead, back)]
                assert times[1] - times[0] >= 990
                assert times[2] - times[1] >= 990

    run(scenario)


def test_status_is_republished_every_interval(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        async with station_and_gateway(
            tmp_path, gw, mqtt_port=mqtt_broker.port, topic_root=topic_root, status_interval_s=0.2
        ) as (_, path):
            topic = status_topic(topic_root, gw)
            async with (
                MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe,
                Agent(load_config(path, environ={})),
            ):
                await status_until(probe, topic, lambda b: states(b) == {"th1": "ok"})
                # nothing changes any more: what follows is the periodic republishing
                repeats = [status_of((await probe.next()).payload) for _ in range(2)]
                assert [states(b) for b in repeats] == [{"th1": "ok"}] * 2
                assert repeats[0]["time_ms"] < repeats[1]["time_ms"]

    run(scenario)


def test_status_is_skipped_while_disconnected_and_fresh_on_reconnect(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        proxy = TcpProxy(mqtt_broker.host, mqtt_broker.port)
        await proxy.up()
        async with station_and_gateway(
            tmp_path, gw, mqtt_port=proxy.port, topic_root=topic_root, slaves={"th1": 1, "th2": 2}
        ) as (station, path):
            topic = status_topic(topic_root, gw)
            async with (
                MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe,
                Agent(load_config(path, environ={})) as agent,
            ):
                await status_until(probe, topic, lambda b: states(b) == {"th1": "ok", "th2": "ok"})
                await proxy.down()
                await agent.wait_until(lambda h: not h.uplink_connected, timeout_s=10)
                _, will = await status_until(probe, topic, lambda b: b["state"] == "offline")
                assert will == {"state": "offline", "gw": gw, "time_ms": will["time_ms"]}
                station.set_offline(2, True)  # a change while nothing can be published
                await agent.wait_until(lambda h: h.devices["th2"].state == "degraded", 10)
                await proxy.up()
                # a status paho had in flight when the link died unnoticed may come again
                # first (it resends what was not acknowledged); the agent's own is fresh
                fresh = {"th1": "ok", "th2": "degraded"}
                _, online = await status_until(
                    probe, topic, lambda b: b["state"] == "online" and states(b) == fresh
                )
                assert online["time_ms"] > will["time_ms"]
                # and it is what stays retained: nothing stale comes after it
                retained = await retained_status(mqtt_broker, topic)
                assert states(retained) == fresh
                assert retained["time_ms"] >= online["time_ms"]
        await proxy.close()

    run(scenario)


def test_a_puback_is_not_a_commit_batches_wait_for_the_clouds_ack(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    """The broker accepts every batch, but only the cloud's signed ack deletes one."""
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        async with station_and_gateway(
            tmp_path, gw, mqtt_port=mqtt_broker.port, topic_root=topic_root, ack_timeout_s=0.5
        ) as (_, path):
            topic = telemetry_topic(topic_root, gw)
            async with (
                MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe,
                Agent(load_config(path, environ={})) as agent,
            ):
                first = verified((await probe.next()).payload).seq
                await agent.wait_until(lambda h: h.unacked_batches >= 3, timeout_s=10)
                assert agent.health().acked_batches == 0  # published, PUBACKed, still kept
                async with CloudAcker(mqtt_broker.host, mqtt_broker.port, topic_root):
                    await agent.wait_until(lambda h: agent.is_acked(first), timeout_s=15)

    run(scenario)
