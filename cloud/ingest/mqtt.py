"""``IngestWorker``: MQTT ``up/`` messages in, settled by the pipeline in groups, PUBACK last.

Layer: transport (I/O glue). Moves messages from paho-mqtt
(:mod:`cloud.ingest.mqtt_link`) to :class:`cloud.ingest.pipeline.IngestPipeline`,
which verifies, validates, deduplicates and writes them; this module holds no
SQL, no wire parsing and no ingest rule itself.

Concurrency model, and why. The worker runs on an asyncio event loop, not on a
thread with its own synchronous connection: the API's :class:`Storage` is async
(one pool, one query layer), so ``shanshui cloud serve`` runs the worker on the
uvicorn loop next to the routes, sharing the pool, and ``shanshui cloud ingest``
runs the same worker under ``asyncio.run``. paho's network thread does no work:
its callbacks hand each message to the loop onto an ``asyncio.Queue``. One
consumer task handles messages in arrival order, which is also the order MQTT
3.1.1 requires for PUBACKs. More throughput means more workers in the
shared-subscription group, not more tasks here. The queue needs no bound of its
own: with manual acknowledgements the broker stops sending once its in-flight
window of un-acknowledged QoS 1 messages is full.

Group commit. The consumer takes every message already waiting (up to
:data:`MAX_GROUP_MESSAGES` or :data:`MAX_GROUP_BYTES`) and hands the group to
:meth:`IngestPipeline.handle_many`, which writes all its batches in one
transaction. Nothing waits for a group to fill: a lone message is settled at
once, and under load the messages that arrived while the previous group was
being written make the next group, so a commit and its fsync serve many batches.

Delivery. A message is acknowledged only after the pipeline settled it (its
group committed, or its dead letter inserted). If the worker dies in between,
the broker still holds the message and delivers it again (persistent session:
give a stable ``client_id``); the replay is harmless because storage is
idempotent on (gateway, seq). While the database is down the pipeline retries
with backoff and nothing is acknowledged. After settling, the worker also tells
the gateway, on its ``down/ack``, with an ack signed with the gateway's secret
(:mod:`cloud.ingest.acks`); that, not the broker's PUBACK, is what lets the
gateway delete the batch. ``stop()`` drains: it unsubscribes, finishes what was
already received, then disconnects, so a clean-session worker loses nothing on
a graceful stop either.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self

from cloud.errors import CloudError, IngestError
from cloud.ingest.acks import QOS as ACK_QOS
from cloud.ingest.acks import AckSender
from cloud.ingest.decode import ingest_subscription
from cloud.ingest.mqtt_compact import MqttCompactFrames
from cloud.ingest.mqtt_link import BrokerLink, Delivery
from cloud.ingest.pipeline import IngestPipeline, IngestPolicy, Settled, StoppingError
from cloud.ingest.registries import ChannelTables, StoredTables
from cloud.ingest.stats import IngestStats, StatsCounter
from cloud.metrics import QUEUE_DEPTH
from cloud.settings import MqttEndpoint, Settings
from cloud.storage import Storage
from device_profiles import Quantity
from wire.compact import Channel

__all__ = ["MAX_GROUP_BYTES", "MAX_GROUP_MESSAGES", "IngestStats", "IngestWorker"]

log = logging.getLogger(__name__)

#: At most this many messages are settled in one transaction ...
MAX_GROUP_MESSAGES = 64
#: ... and at most about this many payload bytes (a few hundred thousand readings).
MAX_GROUP_BYTES = 4 * 1024 * 1024


class IngestWorker:
    """Subscribe to gateways' ``up/`` channels and store what they send; see the module docstring.

    Use as an async context manager, or call :meth:`start` and :meth:`stop`, on
    the event loop that also uses ``storage``::

        async with Storage(url) as storage, IngestWorker(storage, endpoint) as worker:
            await worker.wait_processed(10)

    Args:
        storage: an open (or soon opened) :class:`Storage`; the worker does not close it.
        mqtt: the broker to subscribe at.
        topic_root: prefix of telemetry topics, ``shanshui/v1`` in production.
        group: shared-subscription group; workers of one group split the messages.
        client_id: a stable id gives a persistent session (messages wait for the
            worker while it is down); None picks a random id and a clean session.
        quantities: the vocabulary, for plausibility flags; defaults to ``quantities.yaml``.
        keepalive_s: MQTT keepalive.
        policy: ingest rules and housekeeping ages; defaults to :class:`IngestPolicy`'s.
            The worker prunes the batch log and dead letters every
            ``policy.housekeeping_interval_s`` (starting at start).
        channel_tables: NB-IoT gateways' channel tables, for the compact frames their
            modules publish on ``up/compact`` (:mod:`cloud.ingest.mqtt_compact`);
            default: the database's, read at every frame.
    """

    def __init__(
        self,
        storage: Storage,
        mqtt: MqttEndpoint,
        *,
        topic_root: str = "shanshui/v1",
        group: str = "ingest",
        client_id: str | None = None,
        quantities: Mapping[str, Quantity] | None = None,
        keepalive_s: int = 30,
        policy: IngestPolicy | None = None,
        channel_tables: ChannelTables | Mapping[str, Sequence[Channel]] | None = None,
    ) -> None:
        self._pipeline = IngestPipeline(
            storage,
            topic_root=topic_root,
            quantities=quantities,
            policy=policy,
        )
        self._acks = AckSender(self._publish_ack, storage.gateway_secret, topic_root)
        tables = StoredTables(storage) if channel_tables is None else channel_tables
        self._compact = MqttCompactFrames(self._pipeline, tables, self._publish_ack)
        self._endpoint = mqtt
        self._subscription = ingest_subscription(topic_root, group)
        self._link = BrokerLink(mqtt, self._subscription, client_id, keepalive_s, self)
        self._counter = StatsCounter()
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._progress = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._unsubscribed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._consumer: asyncio.Task[None] | None = None
        self._housekeeper: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls, storage: Storage, settings: Settings, mqtt: MqttEndpoint | None = None
    ) -> IngestWorker:
        """A worker configured from ``settings``; ``mqtt`` overrides ``settings.mqtt()``.

        Raises:
            IngestError: no broker given and ``SHANSHUI_MQTT_URL`` is unset.
        """
        endpoint = mqtt or settings.mqtt()
        if endpoint is None:
            raise IngestError("no MQTT broker: set SHANSHUI_MQTT_URL or start an embedded one")
        return cls(
            storage,
            endpoint,
            topic_root=settings.topic_root,
            group=settings.ingest_group,
            client_id=settings.ingest_client_id,
            policy=IngestPolicy.from_settings(settings),
        )

    @property
    def pipeline(self) -> IngestPipeline:
        """The pipeline this worker stores through (other listeners share it)."""
        return self._pipeline

    @property
    def stats(self) -> IngestStats:
        """A snapshot of the counters."""
        return self._counter.snapshot

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect, subscribe, and return once the broker has granted the subscription.

        Messages published after this returns reach this worker (or its group).
        Later connection losses are repaired in the background.

        Raises:
            IngestError: no subscription within ``timeout_s`` (broker down, login refused).
        """
        if self._consumer is not None:
            return
        if self._stopping.is_set():
            raise IngestError("a stopped IngestWorker cannot start again; create a new one")
        loop = asyncio.get_running_loop()
        self._consumer = asyncio.create_task(self._consume(), name="shanshui-ingest")
        self._housekeeper = asyncio.create_task(self._housekeeping(), name="shanshui-prune")
        self._link.start(loop)
        try:
            async with asyncio.timeout(timeout_s):
                await self._subscribed.wait()
        except TimeoutError:
            await self.stop(drain_timeout_s=0)
            refused = self._link.refused
            why = f": {refused}" if refused else " (is it running?)"
            raise IngestError(
                f"could not subscribe at {self._endpoint.address} within {timeout_s:g} s{why}"
            ) from None
        log.info("ingest subscribed to %s at %s", self._subscription, self._endpoint.address)

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Unsubscribe, finish the messages already received, disconnect.

        Messages still unfinished after ``drain_timeout_s`` (say, the database is
        down) are left un-acknowledged, for the broker to deliver again. Safe to
        call twice; a stopped worker cannot be started again.
        """
        if self._consumer is not None and drain_timeout_s > 0:
            await self._drain(drain_timeout_s)
        self._stopping.set()
        self._link.stopping = True
        self._pipeline.stop()
        tasks = [task for task in (self._consumer, self._housekeeper) if task is not None]
        self._consumer = self._housekeeper = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._link.close()
        self._counter.set_connected(False)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_processed(self, count: int, timeout_s: float = 10.0) -> IngestStats:
        """Wait until at least ``count`` messages are processed in total; return the counters.

        Raises:
            TimeoutError: fewer were processed within ``timeout_s``.
        """
        return await self.wait_until(lambda stats: stats.processed >= count, timeout_s)

    async def wait_until(
        self, condition: Callable[[IngestStats], bool], timeout_s: float = 10.0
    ) -> IngestStats:
        """Wait until ``condition(stats)`` holds; return the counters that satisfied it.

        Woken by every change of the counters, so no polling: e.g.
        ``await worker.wait_until(lambda s: s.subscriptions >= 2)`` after a broker restart.

        Raises:
            TimeoutError: the condition did not hold within ``timeout_s``.
        """
        async with asyncio.timeout(timeout_s):
            while True:
                stats = self.stats
                if condition(stats):
                    return stats
                self._progress.clear()
                await self._progress.wait()

    # --- event loop side -------------------------------------------------------------

    async def _drain(self, timeout_s: float) -> None:
        self._link.draining = True
        self._unsubscribed.clear()
        sent = self._link.unsubscribe()
        try:
            async with asyncio.timeout(timeout_s):
                if sent:
                    await self._unsubscribed.wait()  # no message arrives after the UNSUBACK
                await self._queue.join()
        except TimeoutError:
            log.warning("ingest stopping with messages unfinished; the broker keeps them")

    async def _housekeeping(self) -> None:
        interval_s = self._pipeline.policy.housekeeping_interval_s
        while not self._stopping.is_set():
            try:
                await self._pipeline.prune()
            except CloudError as exc:  # the next round tries again
                log.warning("could not prune the batch log and dead letters: %s", exc)
            try:
                async with asyncio.timeout(interval_s):
                    await self._stopping.wait()
            except TimeoutError:
                continue

    async def _consume(self) -> None:
        while True:
            group = [await self._queue.get()]
            size = len(group[0].payload)
            while (
                len(group) < MAX_GROUP_MESSAGES
                and size < MAX_GROUP_BYTES
                and not self._queue.empty()
            ):
                group.append(self._queue.get_nowait())
                size += len(group[-1].payload)
            QUEUE_DEPTH.dec(len(group))
            compact = [self._compact.handles(m.topic) for m in group]  # modules' NB-IoT frames
            try:
                settled = await self._settle(group, compact)
            except StoppingError:
                return
            except Exception:  # the dead letter itself failed: leave the messages to the broker
                log.exception("could not settle or dead-letter %d messages; not acked", len(group))
            else:
                self._counter.count(groups=1)
                for message, verdict, frame in zip(group, settled, compact, strict=True):
                    self._counter.count_settled(verdict)
                    if not frame:  # a compact frame's ack is already out, on down/compact-ack
                        self._acks.add(message.topic, message.payload, verdict)
                    self._link.ack(message)  # in arrival order, as MQTT 3.1.1 asks
                self._progress.set()
            finally:
                for _ in group:
                    self._queue.task_done()
            if self._queue.empty() or self._acks.due:
                await self._flush_acks()

    async def _settle(self, group: list[Delivery], compact: list[bool]) -> list[Settled]:
        """The group's batches in one transaction; compact frames one by one after it."""
        batches = [
            (m.topic, m.payload) for m, frame in zip(group, compact, strict=True) if not frame
        ]
        stored = iter(await self._pipeline.handle_many(batches) if batches else [])
        return [
            await self._compact.settle(m.topic, m.payload) if frame else next(stored)
            for m, frame in zip(group, compact, strict=True)
        ]

    async def _flush_acks(self) -> None:
        try:
            published = await self._acks.flush()
        except Exception:  # an ack is an optimisation of the gateway's re-send: never fatal
            log.exception("could not publish acks; gateways will re-send")
            return
        if published:
            self._count(acks_published=published)

    def _publish_ack(self, topic: str, payload: bytes) -> None:
        self._link.publish(topic, payload, ACK_QOS)

    def _count(self, **increments: int) -> None:
        self._counter.count(**increments)
        self._progress.set()

    # --- told by the broker link, on the event loop ------------------------------------

    def link_changed(self, connected: bool) -> None:
        """The broker connection came up or went down."""
        self._counter.set_connected(connected)
        self._progress.set()

    def subscription_granted(self) -> None:
        """The broker granted the subscription."""
        self._count(subscriptions=1)
        self._subscribed.set()

    def unsubscribed(self) -> None:
        """The broker confirmed the unsubscription: nothing more arrives."""
        self._unsubscribed.set()

    def received(self, delivery: Delivery) -> None:
        """A message arrived: queue it for the consumer."""
        QUEUE_DEPTH.inc()
        self._queue.put_nowait(delivery)
