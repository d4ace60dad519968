"""``serve`` and ``ingest`` run the evaluator as a child process; it stops with them."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from cloud.alarms.child import EvaluatorChild
from cloud.ingest.pipeline import IngestPipeline
from cloud.storage import Storage
from cloud.storage.alarm_contacts import NewContact, add_contact
from tests.cloud.alarms.live_helpers import Receiver, receiving, rules, station
from wire import Batch, Quality, Reading

pytestmark = pytest.mark.e2e


async def _offend(url: str, receiver: Receiver) -> None:
    async with Storage(url) as storage:
        await station(storage)
        await rules(storage, {"id": "hot", "kind": "threshold", "above": 40.0})
        _, receiver.secret = await add_contact(
            storage, NewContact("env", "ops", "webhook", receiver.url)
        )
        reading = Reading("d1", "air_temperature", int(time.time() * 1000) - 1000, 45.0,
                          Quality.NORMAL)  # fmt: skip
        await IngestPipeline(storage).handle_batch("test", Batch("gw-1", 1, (reading,)), b"")


def test_the_child_evaluates_and_is_stopped_with_its_parent(migrated_database_url: str) -> None:
    with receiving() as receiver, EvaluatorChild(migrated_database_url) as child:
        pid = child.pid
        assert pid is not None
        asyncio.run(_offend(migrated_database_url, receiver))
        [body] = asyncio.run(receiver.wait_for(1, timeout_s=30))
    assert json.loads(body)["rule_id"] == "hot"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped: gone
