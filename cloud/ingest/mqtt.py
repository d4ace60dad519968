"""``IngestWorker``: MQTT ``up/`` messages in, settled by the pipeline, PUBACK last.

Layer: transport (I/O glue). Moves messages from paho-mqtt to
:class:`cloud.ingest.pipeline.IngestPipeline`, which verifies, validates,
deduplicates and writes them; this module holds no SQL, no wire parsing and no
ingest rule itself.

Concurrency model, and why. The worker runs on an asyncio event loop, not on a
thread with its own synchronous connection: the API's :class:`Storage` is async
(one pool, one query layer), so ``shanshui cloud serve`` runs the worker on the
uvicorn loop next to the routes, sharing the pool, and ``shanshui cloud ingest``
runs the same worker under ``asyncio.run``. paho's network thread does no work:
its callbacks hand each message to the loop with ``call_soon_threadsafe`` onto
an ``asyncio.Queue``. One consumer task handles messages in arrival order, which
is also the order MQTT 3.1.1 requires for PUBACKs. More throughput means more
workers in the shared-subscription group, not more tasks here. The queue needs
no bound of its own: with ``manual_ack`` the broker stops sending once its
in-flight window of un-acknowledged QoS 1 messages is full.

Delivery. The client uses ``manual_ack=True`` and acknowledges a message only
after the pipeline settled it (batch committed or dead letter inserted). If the
worker dies in between, the broker still holds the message and delivers it again
(persistent session: give a stable ``client_id``); the replay is harmless
because storage is idempotent on (gateway, seq). While the database is down the
pipeline retries with backoff and nothing is acknowledged. After settling, the
worker also tells the gateway, on its ``down/ack``, with an ack signed with the
gateway's secret (:mod:`cloud.ingest.acks`); that, not the broker's PUBACK, is
what lets the gateway delete the batch. An acknowledgement is
dropped if the connection it belongs to has gone (packet ids are per
connection): the broker redelivers and the duplicate is recognised. ``stop()``
drains: it unsubscribes, finishes what was already received, then disconnects,
so a clean-session worker loses nothing on a graceful stop either.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cloud.errors import CloudError, IngestError
from cloud.ingest.acks import QOS as ACK_QOS
from cloud.ingest.acks import AckSender
from cloud.ingest.decode import ingest_subscription
from cloud.ingest.mqtt_compact import MqttCompactFrames
from cloud.ingest.pipeline import (
    ANSWER,
    DUPLICATE,
    IGNORED,
    PRESENCE,
    STORED,
    IngestPipeline,
    IngestPolicy,
    Settled,
    StoppingError,
)
from cloud.ingest.registries import ChannelTables, StoredTables
from cloud.metrics import BROKER_CONNECTED, QUEUE_DEPTH
from cloud.settings import MqttEndpoint, Settings
from cloud.storage import Storage
from device_profiles import Quantity
from wire.compact import Channel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestStats:
    """Counters since the worker started.

    Attributes:
        accepted: batches stored.
        duplicate: batches recognised as replays and not stored again.
        dead_lettered: messages kept in ``dead_letters``.
        readings_stored: readings written by the accepted batches.
        presence_updates: ``up/status`` messages recorded for registered gateways.
        ignored_status: ``up/status`` messages ignored as unsigned or forged.
        acks_published: signed acks published on gateways' ``down/ack``.
        connected: whether the broker connection is up right now.
        subscriptions: subscriptions the broker granted: 1 after start, one more
            after each reconnection.
    """

    accepted: int = 0
    duplicate: int = 0
    dead_lettered: int = 0
    readings_stored: int = 0
    presence_updates: int = 0
    acks_published: int = 0
    ignored_status: int = 0
    connected: bool = False
    subscriptions: int = 0

    @property
    def processed(self) -> int:
        """Messages finished (and acknowledged) so far."""
        return (
            self.accepted
            + self.duplicate
            + self.dead_lettered
            + self.presence_updates
            + self.ignored_status
        )


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int


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
        self._keepalive_s = keepalive_s
        self._client = self._make_client(client_id)
        self._lock = threading.Lock()  # guards _connection and the counters across threads
        self._connection = 0
        self._stats = IngestStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Message] = asyncio.Queue()
        self._progress = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._unsubscribed = asyncio.Event()
        self._draining = False
        self._stopping = asyncio.Event()
        self._consumer: asyncio.Task[None] | None = None
        self._housekeeper: asyncio.Task[None] | None = None
        self._refused: str | None = None
        self._was_connected = False

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
        with self._lock:
            return self._stats

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
        self._loop = asyncio.get_running_loop()
        self._consumer = asyncio.create_task(self._consume(), name="shanshui-ingest")
        self._housekeeper = asyncio.create_task(self._housekeeping(), name="shanshui-prune")
        self._client.connect_async(self._endpoint.host, self._endpoint.port, self._keepalive_s)
        self._client.loop_start()
        try:
            async with asyncio.timeout(timeout_s):
                await self._subscribed.wait()
        except TimeoutError:
            await self.stop(drain_timeout_s=0)
            why = f": {self._refused}" if self._refused else " (is it running?)"
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
        self._pipeline.stop()
        tasks = [task for task in (self._consumer, self._housekeeper) if task is not None]
        self._consumer = self._housekeeper = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        with self._lock:
            self._stats = dataclasses.replace(self._stats, connected=False)
        BROKER_CONNECTED.set(0)

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
        self._draining = True
        self._unsubscribed.clear()
        result, _ = self._client.unsubscribe(self._subscription)
        try:
            async with asyncio.timeout(timeout_s):
                if result == mqtt.MQTT_ERR_SUCCESS:
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
            message = await self._queue.get()
            QUEUE_DEPTH.dec()
            compact = self._compact.handles(message.topic)  # a module's NB-IoT frame
            try:
                if compact:
                    settled = await self._compact.settle(message.topic, message.payload)
                else:
                    settled = await self._pipeline.handle(message.topic, message.payload)
            except StoppingError:
                return
            except Exception:  # the dead letter itself failed: leave the message to the broker
                log.exception("could not settle or dead-letter %s; not acked", message.topic)
            else:
                self._count_settled(settled)
                if not compact:  # a compact frame's ack is already out, on down/compact-ack
                    self._acks.add(message.topic, message.payload, settled)
                self._ack(message)
            finally:
                self._queue.task_done()
            if self._queue.empty() or self._acks.due:
                await self._flush_acks()

    async def _flush_acks(self) -> None:
        try:
            published = await self._acks.flush()
        except Exception:  # an ack is an optimisation of the gateway's re-send: never fatal
            log.exception("could not publish acks; gateways will re-send")
            return
        if published:
            self._count(acks_published=published)

    def _publish_ack(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=ACK_QOS)

    def _ack(self, message: _Message) -> None:
        with self._lock:
            if message.connection == self._connection:
                self._client.ack(message.mid, message.qos)

    def _count_settled(self, settled: Settled) -> None:
        if settled.outcome == STORED:
            self._count(accepted=1, readings_stored=settled.readings_stored)
        elif settled.outcome == DUPLICATE:
            self._count(duplicate=1)
        elif settled.outcome == PRESENCE:
            self._count(presence_updates=1)
        elif settled.outcome == IGNORED:
            self._count(ignored_status=1)
        elif settled.outcome != ANSWER:
            self._count(dead_lettered=1)

    def _count(self, **increments: int) -> None:
        with self._lock:
            changes = {k: getattr(self._stats, k) + v for k, v in increments.items()}
            self._stats = dataclasses.replace(self._stats, **changes)
        self._progress.set()

    # --- paho network thread side ----------------------------------------------------

    def _make_client(self, client_id: str | None) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"shanshui-ingest-{secrets.token_hex(6)}",
            clean_session=client_id is None,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if self._endpoint.username is not None:
            password = self._endpoint.password
            client.username_pw_set(
                self._endpoint.username, None if password is None else password.get_secret_value()
            )
        if self._endpoint.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_unsubscribe = self._on_unsubscribe
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._refused = f"broker refused the connection ({reason_code})"
            log.error("%s at %s", self._refused, self._endpoint.address)
            return
        with self._lock:
            self._connection += 1
            self._stats = dataclasses.replace(self._stats, connected=True)
        BROKER_CONNECTED.set(1)
        self._call_in_loop(self._progress.set)
        if self._was_connected:
            log.info("ingest reconnected to %s", self._endpoint.address)
        self._was_connected = True
        if not self._draining:
            client.subscribe(self._subscription, qos=1)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            # Acks of messages from the connection that just ended must not be sent later.
            self._connection += 1
            self._stats = dataclasses.replace(self._stats, connected=False)
        BROKER_CONNECTED.set(0)
        self._call_in_loop(self._progress.set)
        if not self._stopping.is_set():
            log.warning(
                "ingest lost the broker at %s (%s); reconnecting",
                self._endpoint.address,
                reason_code,
            )

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(code.is_failure for code in reason_codes):
            self._refused = f"broker refused the subscription {self._subscription}"
            log.error("%s at %s", self._refused, self._endpoint.address)
            return
        self._call_in_loop(self._granted)

    def _granted(self) -> None:
        self._count(subscriptions=1)
        self._subscribed.set()

    def _on_unsubscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._call_in_loop(self._unsubscribed.set)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            connection = self._connection
        message = _Message(msg.topic, bytes(msg.payload), msg.mid, msg.qos, connection)
        self._call_in_loop(self._enqueue, message)

    def _enqueue(self, message: _Message) -> None:
        QUEUE_DEPTH.inc()
        self._queue.put_nowait(message)

    def _call_in_loop(self, callback: Callable[..., object], *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)
