"""Alarm storage on a real PostgreSQL: rules per tenant, dedup of raises, lifecycle, scope."""

from __future__ import annotations

import asyncio

import pytest

from cloud.alarms.events import Transition
from cloud.errors import InvalidValueError, NotFoundError
from cloud.storage import Storage
from cloud.storage.access import Scope
from cloud.storage.alarm_eval import evaluation
from cloud.storage.alarm_feed import FeedPosition
from cloud.storage.alarm_rules import delete_rule, enabled_rules, list_rules, put_rules
from cloud.storage.alarms import AlarmFilter, acknowledge, alarm_history, list_alarms, resolve
from cloud.storage.sites import SiteAttributes, add_site
from tests.cloud.alarms.helpers import T0, rule

pytestmark = pytest.mark.anyio
ADMIN = Scope(None)


async def _world(storage: Storage) -> tuple[Scope, Scope]:
    a = await add_site(storage, "eeb", "A-1", SiteAttributes(region_code="610113"), new_tenant=True)
    b = await add_site(storage, "water", "B-1", SiteAttributes(), new_tenant=True)
    await storage.register_gateway("gw-a", tenant="eeb", site="A-1")
    await storage.register_gateway("gw-b", tenant="water", site="B-1")
    cursor_ids = {}
    async with storage.connection("test") as conn:
        for name in ("eeb", "water"):
            cur = await conn.execute("SELECT id FROM tenants WHERE name = %s", (name,))
            row = await cur.fetchone()
            assert row is not None
            cursor_ids[name] = row[0]
    assert a.id != b.id
    return Scope(cursor_ids["eeb"]), Scope(cursor_ids["water"])


def _tr(kind: str, rule_id: str = "r-a", subject: str = "gw-a/d1/ph", **kw: object) -> Transition:
    base = {"tenant": "eeb", "time_ms": T0, "level": "warning", "value": 9.0, "detail": "x"}
    return Transition(rule_id, subject=subject, kind=kind, **(base | kw))  # type: ignore[arg-type]


async def test_rules_are_per_tenant(migrated_database_url: str) -> None:
    async with Storage(migrated_database_url) as storage:
        eeb, water = await _world(storage)
        mine = rule(id="r-a", tenant="eeb", kind="threshold", above=8.5)
        await put_rules(storage, eeb, "eeb", [mine])
        with pytest.raises(InvalidValueError, match="tenant must be"):
            await put_rules(storage, water, "water", [mine])
        with pytest.raises(InvalidValueError, match="taken"):
            await put_rules(
                storage, water, "water", [rule(id="r-a", tenant="water", kind="threshold", above=1)]
            )
        assert [r.id for r in await list_rules(storage, eeb)] == ["r-a"]
        assert await list_rules(storage, water) == []
        with pytest.raises(NotFoundError):
            await delete_rule(storage, water, "r-a")
        assert [r.id for r in await enabled_rules(storage)] == ["r-a"]
        await delete_rule(storage, eeb, "r-a")
        assert await enabled_rules(storage) == []


async def test_open_twice_is_one_alarm_and_lifecycle(migrated_database_url: str) -> None:
    async with Storage(migrated_database_url) as storage:
        eeb, water = await _world(storage)

        async def raise_once() -> int:
            async with evaluation(storage) as tx:
                return len(await tx.record([_tr("open")], {"r-a": "critical"}))

        opened = await asyncio.gather(raise_once(), raise_once())
        assert sorted(opened) == [0, 1]
        [alarm] = await list_alarms(storage, eeb, AlarmFilter())
        assert (alarm.state, alarm.repeats, alarm.severity, alarm.gateway_id) == (
            "open",
            1,
            "critical",
            "gw-a",
        )
        assert alarm.site_id is not None
        assert await list_alarms(storage, water, AlarmFilter()) == []
        with pytest.raises(NotFoundError):
            await acknowledge(storage, water, alarm.id, "key:w")
        acked = await acknowledge(storage, eeb, alarm.id, "key:e", "on it")
        assert (acked.state, acked.acknowledged_by) == ("acknowledged", "key:e")
        async with evaluation(storage) as tx:
            [notice] = await tx.record([_tr("resolve", level="")], {})
            assert notice.kind == "resolve"
            assert await tx.record([_tr("resolve", level="")], {}) == []
        events = await alarm_history(storage, eeb, alarm.id)
        assert [e.kind for e in events] == ["open", "ack", "resolve"]
        with pytest.raises(InvalidValueError):
            await resolve(storage, eeb, alarm.id, "key:e", "done")


async def test_resolve_by_hand_needs_a_comment(migrated_database_url: str) -> None:
    async with Storage(migrated_database_url) as storage:
        eeb, _ = await _world(storage)
        async with evaluation(storage) as tx:
            [notice] = await tx.record([_tr("open")], {})
        with pytest.raises(InvalidValueError, match="comment"):
            await resolve(storage, eeb, notice.alarm_id, "key:e", " ")
        done = await resolve(storage, eeb, notice.alarm_id, "key:e", "sensor cleaned")
        assert (done.state, done.resolved_by, done.resolve_comment) == (
            "resolved",
            "key:e",
            "sensor cleaned",
        )
        # the next open is a new alarm
        async with evaluation(storage) as tx:
            assert len(await tx.record([_tr("open")], {})) == 1


async def test_states_and_position_are_saved_together(migrated_database_url: str) -> None:
    async with Storage(migrated_database_url) as storage:
        async with evaluation(storage) as tx:
            first = await tx.position()
            await tx.save_states({"r|s": {"level": 1}})
            moved = FeedPosition(first.frontier + 5, (first.frontier + 2,))
            generation = await tx.advance(moved, "test")
        with pytest.raises(RuntimeError):
            await _crash_after_saving(storage, FeedPosition(first.frontier + 9))
        async with evaluation(storage) as tx:
            stored = await tx.position()
            assert (stored.frontier, stored.pending) == (moved.frontier, moved.pending)
            assert stored.generation == generation == first.generation + 1
            assert await tx.states() == {"r|s": {"level": 1}}


async def _crash_after_saving(storage: Storage, position: FeedPosition) -> None:
    async with evaluation(storage) as tx:
        await tx.save_states({"r|s": {"level": 0}})
        await tx.advance(position, "test")
        raise RuntimeError("a crash before the commit")  # neither is kept
