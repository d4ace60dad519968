"""The evaluator's side of alarm storage: state, transitions into alarms, station context.

Layer: storage. :func:`evaluation` opens one transaction that holds a
transaction-level advisory lock, so evaluators step one at a time; inside it,
:class:`EvaluationTx` reads the next step of the feed (:mod:`cloud.storage.alarm_feed`),
loads and saves the evaluator's state and its position together (a generation
tells an evaluator whether another one stepped since it last loaded), and turns
transitions into alarms and alarm events. The partial unique index
``alarms_one_unresolved`` is the second guard: an ``open`` for a rule and subject
that already has an unresolved alarm counts a repeat, and adds no event (so no
notification). No evaluation logic here: that is :mod:`cloud.alarms`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from cloud.alarms.events import Transition
from cloud.storage.alarm_feed import (
    Chosen,
    FeedPosition,
    FeedStep,
    SeriesName,
    choose,
    read_chosen,
    read_position,
    read_step,
    rules_version,
    save_position,
    series_names,
)
from cloud.storage.store import Storage

# pg_advisory_xact_lock key of alarm evaluation ("shanshui" alarms, any fixed bigint)
EVALUATION_LOCK = 0x5348_414E_0A1A


@dataclass(frozen=True, slots=True)
class Notice:
    """An alarm event that was recorded, for the notifier."""

    event_id: int
    alarm_id: int
    tenant: str
    rule_id: str
    subject: str
    kind: str
    time_ms: int
    level: str
    value: float | None
    detail: str
    late: bool
    site_id: int | None
    gateway_id: str | None


@dataclass(frozen=True, slots=True)
class GatewayContext:
    """What the rules need to know about a gateway's station."""

    tenant: str
    site: str | None
    region: str | None
    time_zone: str
    water_target: str | None
    water_body: str | None
    noise_zone: str | None


_CONTEXT = """
SELECT g.id, t.name, st.name, st.region_code, coalesce(st.time_zone, 'Asia/Shanghai'),
       st.water_target_class, st.water_body, st.noise_zone
FROM gateways g JOIN tenants t ON t.id = g.tenant_id LEFT JOIN sites st ON st.id = g.site_id
WHERE g.id = ANY(%(ids)s::text[])
"""

_OPEN = """
WITH t AS (SELECT id FROM tenants WHERE name = %(tenant)s),
     g AS (SELECT id, site_id FROM gateways WHERE id = split_part(%(subject)s, '/', 1))
INSERT INTO alarms (tenant_id, rule_id, subject, gateway_id, site_id, severity, level, value,
                    detail, late, opened_at)
SELECT t.id, %(rule)s, %(subject)s, (SELECT id FROM g),
       coalesce((SELECT site_id FROM g),
                (SELECT s.id FROM sites s WHERE s.tenant_id = t.id AND s.name = %(subject)s)),
       %(severity)s, %(level)s, %(value)s, %(detail)s, %(late)s, %(at)s
FROM t
ON CONFLICT (rule_id, subject) WHERE state <> 'resolved'
    DO UPDATE SET repeats = alarms.repeats + 1
RETURNING id, xmax = 0, site_id, gateway_id
"""

_LEVEL = """
UPDATE alarms SET level = %(level)s, value = %(value)s, detail = %(detail)s
WHERE rule_id = %(rule)s AND subject = %(subject)s AND state <> 'resolved'
  AND level <> %(level)s
RETURNING id, true, site_id, gateway_id
"""

_RESOLVE = """
UPDATE alarms SET state = 'resolved', resolved_at = %(at)s, resolved_by = 'auto',
    value = %(value)s, resolve_comment = %(detail)s
WHERE rule_id = %(rule)s AND subject = %(subject)s AND state <> 'resolved'
RETURNING id, true, site_id, gateway_id
"""

_EVENT = """
INSERT INTO alarm_events (alarm_id, kind, at, level, value, detail, late)
VALUES (%(alarm)s, %(kind)s, %(at)s, %(level)s, %(value)s, %(detail)s, %(late)s)
RETURNING id
"""

_SAVE = """
INSERT INTO alarm_states (key, state)
SELECT key, value FROM jsonb_each(%(states)s::jsonb)
ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_at = now()
"""

_UNNOTIFIED = """
SELECT e.id, a.id, t.name, a.rule_id, a.subject, e.kind, (extract(epoch FROM e.at) * 1000)::bigint,
       e.level, e.value, e.detail, e.late, a.site_id, a.gateway_id
FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id JOIN tenants t ON t.id = a.tenant_id
WHERE e.kind IN ('open', 'level', 'resolve')
  AND (NOT e.late OR (e.kind = 'resolve' AND EXISTS (
      SELECT 1 FROM alarm_events o WHERE o.alarm_id = a.id AND o.kind = 'open' AND NOT o.late)))
  AND e.recorded_at > now() - make_interval(secs => %(window_s)s)
  AND NOT EXISTS (SELECT 1 FROM alarm_deliveries d WHERE d.event_id = e.id)
ORDER BY e.id
"""

# alarms whose opening was not late (it was notified): their end is told even when late
_NOTIFIED_OPENINGS = """
SELECT DISTINCT alarm_id FROM alarm_events
WHERE alarm_id = ANY(%(ids)s) AND kind = 'open' AND NOT late
"""

_STATEMENTS = {"open": _OPEN, "level": _LEVEL, "resolve": _RESOLVE}


class EvaluationTx:
    """Queries inside one evaluation transaction (see :func:`evaluation`)."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def position(self) -> FeedPosition:
        """The stored position in the feed, with the generation of the last step."""
        return await read_position(self._conn)

    async def step(self, position: FeedPosition, *, limit: int, readings: bool) -> FeedStep:
        """The feed's next transactions after ``position`` (see :func:`read_step`)."""
        return await read_step(self._conn, position, limit=limit, readings=readings)

    async def choose(self, position: FeedPosition, *, limit: int) -> Chosen:
        """The feed's next transactions after ``position`` (see :func:`choose`)."""
        return await choose(self._conn, position, limit=limit)

    async def read(
        self,
        chosen: Chosen,
        *,
        readings: bool,
        tenants: Iterable[str] | None = None,
        quantities: Iterable[str] | None = None,
    ) -> FeedStep:
        """Their rows (see :func:`read_chosen`)."""
        return await read_chosen(
            self._conn, chosen, readings=readings, tenants=tenants, quantities=quantities
        )

    async def series_names(self, ids: Iterable[int]) -> dict[int, SeriesName]:
        """Gateway, device and quantity of these series (see :func:`series_names`)."""
        return await series_names(self._conn, ids)

    async def rules_version(self) -> int:
        """How many times the rules changed."""
        return await rules_version(self._conn)

    async def advance(self, position: FeedPosition | None, evaluator: str) -> int:
        """Store the new position (None: unchanged) and count the step; its generation."""
        return await save_position(self._conn, position, evaluator)

    async def states(self) -> dict[str, dict[str, Any]]:
        """Every saved state, keyed ``rule_id|subject``."""
        cursor = await self._conn.execute("SELECT key, state FROM alarm_states")
        return {str(key): dict(state) for key, state in await cursor.fetchall()}

    async def save_states(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        """Upsert states."""
        if states:
            await self._conn.execute(_SAVE, {"states": Jsonb(dict(states))})

    async def record(
        self, transitions: Iterable[Transition], severities: Mapping[str, str]
    ) -> list[Notice]:
        """Alarms opened, changed or resolved by ``transitions``; the events recorded."""
        notices = []
        for tr in transitions:
            at = datetime.fromtimestamp(tr.time_ms / 1000, UTC)
            params = {
                "tenant": tr.tenant,
                "rule": tr.rule_id,
                "subject": tr.subject,
                "severity": severities.get(tr.rule_id, "warning"),
                "level": tr.level,
                "value": tr.value,
                "detail": tr.detail,
                "late": tr.late,
                "at": at,
            }
            cursor = await self._conn.execute(_STATEMENTS[tr.kind], params)
            row = await cursor.fetchone()
            kind = "open" if row is None and tr.kind == "level" else tr.kind  # closed by hand
            if kind != tr.kind:  # a new level of an alarm resolved by hand: a new alarm
                row = await (await self._conn.execute(_OPEN, params)).fetchone()
            if row is None or not row[1]:
                continue  # a repeat, or nothing left to change: no new event
            alarm_id, _, site_id, gateway_id = row
            event = await self._conn.execute(_EVENT, params | {"alarm": alarm_id, "kind": kind})
            event_row = await event.fetchone()
            assert event_row is not None  # noqa: S101 - INSERT ... RETURNING returns a row
            notices.append(
                Notice(
                    event_row[0], alarm_id, tr.tenant, tr.rule_id, tr.subject, kind,
                    tr.time_ms, tr.level, tr.value, tr.detail, tr.late, site_id, gateway_id,
                )
            )  # fmt: skip
        return notices


@asynccontextmanager
async def evaluation(storage: Storage) -> AsyncIterator[EvaluationTx]:
    """One evaluation transaction, serialised across evaluators by an advisory lock."""
    async with storage.connection("evaluating alarms") as conn:
        await hold_evaluation(conn)
        yield EvaluationTx(conn)


async def hold_evaluation(conn: AsyncConnection[Any]) -> None:
    """Wait for the evaluation lock and hold it to the end of ``conn``'s transaction: no
    evaluation step runs meanwhile. Take it before writing anything a step writes too."""
    await conn.execute("SELECT pg_advisory_xact_lock(%(k)s)", {"k": EVALUATION_LOCK})


async def gateway_context(
    storage: Storage, gateway_ids: Iterable[str]
) -> dict[str, GatewayContext]:
    """Tenant and station of each known gateway among ``gateway_ids``."""
    async with storage.connection("reading gateways' stations") as conn:
        cursor = await conn.execute(_CONTEXT, {"ids": list(gateway_ids)})
        return {row[0]: GatewayContext(*row[1:]) for row in await cursor.fetchall()}


async def unnotified_events(storage: Storage, window_s: float) -> list[Notice]:
    """Events of the evaluator recorded in the last ``window_s`` that no delivery was
    claimed for (not late, but for the late end of an alarm whose opening was notified):
    a crash came between their commit and their notification, or they concern no contact."""
    async with storage.connection("finding alarm events not yet notified") as conn:
        cursor = await conn.execute(_UNNOTIFIED, {"window_s": window_s})
        return [Notice(*row) for row in await cursor.fetchall()]


async def notified_openings(storage: Storage, alarm_ids: Iterable[int]) -> set[int]:
    """Those of ``alarm_ids`` whose opening was notified (not late)."""
    async with storage.connection("finding alarms whose opening was notified") as conn:
        cursor = await conn.execute(_NOTIFIED_OPENINGS, {"ids": list(alarm_ids)})
        return {int(row[0]) for row in await cursor.fetchall()}
