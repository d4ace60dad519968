"""MQTT uplink: batches to ``{root}/{gateway}/up/telemetry`` (QoS 1), acks from ``down/ack``.

Layer: the paho-mqtt boundary. paho's network thread does the I/O and the
reconnecting (exponential backoff); every paho callback is handed to the event
loop with ``call_soon_threadsafe``, so all state here is touched by the loop
thread only. paho errors become :class:`~edge.errors.UplinkError` subclasses
here. It never reads the outbox: the agent decides what to send.

Session: MQTT 3.1.1, ``client_id`` = gateway id, ``clean_session=False``
(nothing depends on the session surviving: rumqttd and clean sessions work too).
Each batch body is signed with the secret current at :meth:`MqttUplink.send`.
A PUBACK only frees a slot of the in-flight window (:meth:`MqttUplink.room`);
paho keeps un-PUBACKed messages and re-sends them (DUP) after a reconnect, so
``send`` of a seq still waiting for its PUBACK is skipped. Settlement comes from
the cloud: on every connect the uplink subscribes to ``{root}/{gateway}/down/ack``
(QoS 1) before anything is published, verifies each ack with the gateway's
secret (:func:`wire.ack.verify_ack`) and hands verified ones to ``on_settled``;
one that does not verify is counted (:attr:`MqttUplink.forged`) and changes nothing.

Presence: retained ``{root}/{gateway}/up/status``, signed in place with the
gateway's secret (``{..., "sig": ...}``, :func:`wire.signing.sign_object`), is
``{"state": "online", ...}`` after every connect (the body the agent's
``status`` callable builds, see :mod:`edge.status`; published from the event
loop before ``on_state(True)``, so before any batch the agent sends), whatever
:meth:`MqttUplink.publish_status` gives while connected, and
``{"state": "offline", ...}`` on a clean close; the same retained offline
message is the last will for an unclean end.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import SecretStr

from edge.config import MqttSection
from edge.errors import NotConnectedError, PublishError, UplinkError
from edge.uplink.base import (
    RetiredSecret,
    SecretSource,
    SettledCallback,
    StateCallback,
    StatusSource,
    Uplink,
)
from edge.uplink.mqtt_topics import ack_topic, status_payload, status_topic, telemetry_topic
from edge.uplink.paho_client import release_sockets, session_client
from edge.uplink.tls import tls_context
from wire import BadSignatureError, WireError
from wire.ack import Ack, verify_ack
from wire.signing import sign_body, sign_object

log = logging.getLogger(__name__)

QOS = 1
MAX_IN_FLIGHT = 20  # paho's default inflight window; more would only queue in paho's memory


class MqttUplink(Uplink):
    """paho-mqtt client: batches out at QoS 1, the cloud's signed acks in."""

    def __init__(
        self,
        gateway_id: str,
        settings: MqttSection,
        password: SecretStr | None = None,
        *,
        secret: SecretSource,
        retired: RetiredSecret | None = None,
        base_dir: Path | None = None,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 60,
    ) -> None:
        """Configure the client; nothing connects until :meth:`open`.

        Args:
            gateway_id: MQTT client id and topic level.
            settings: the ``mqtt`` section of gateway.yaml.
            password: the broker password (from ``password_file``).
            secret: the gateway's current secret (signs batches, verifies acks).
            retired: the secret before a rotation, which still verifies acks until
                one verifies under the current secret.
            base_dir: what ``mqtt.tls`` paths are relative to (gateway.yaml's folder).
            reconnect_min_s: first reconnect delay; doubles up to ``reconnect_max_s``.
            reconnect_max_s: longest reconnect delay.
        """
        self._gateway_id = gateway_id
        self._settings = settings
        self._telemetry = telemetry_topic(settings.topic_root, gateway_id)
        self._status = status_topic(settings.topic_root, gateway_id)
        self._ack_topic = ack_topic(settings.topic_root, gateway_id)
        self._base_dir = base_dir or Path.cwd()
        self._secret = secret
        self._retired = retired or RetiredSecret()
        client = session_client(
            gateway_id, settings, password, (reconnect_min_s, reconnect_max_s), MAX_IN_FLIGHT
        )
        client.on_connect = self._paho_connected
        client.on_connect_fail = self._paho_connect_failed
        client.on_disconnect = self._paho_disconnected
        client.on_publish = self._paho_published
        client.on_message = self._paho_message
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_settled: SettledCallback = lambda _ack: None
        self._on_state: StateCallback = lambda _up: None
        self._status_source: StatusSource = lambda: status_payload("online", gateway_id)
        self._connected = False
        self._reachable: bool | None = None
        self._in_flight: dict[int, int] = {}  # mid -> seq, until its PUBACK
        self._forged = 0
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self._open = False

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection (CONNACK) and it is up."""
        return self._connected

    @property
    def in_flight(self) -> frozenset[int]:
        """Seqs published and not yet PUBACKed (paho re-sends them after a reconnect)."""
        return frozenset(self._in_flight.values())

    def room(self) -> int:
        """Free slots of the in-flight window (0 while disconnected)."""
        return max(0, MAX_IN_FLIGHT - len(self._in_flight)) if self._connected else 0

    @property
    def forged(self) -> int:
        """Messages on ``down/ack`` that did not verify and were ignored."""
        return self._forged

    async def open(
        self,
        on_settled: SettledCallback,
        on_state: StateCallback,
        status: StatusSource | None = None,
    ) -> None:
        """Start paho's network thread; it connects and reconnects on its own.

        Args:
            on_settled: called with each verified ack from the cloud.
            on_state: called when the connection comes up or goes down.
            status: builds the retained online message published on every connect
                (default: ``{"state": "online", "gw": ..., "time_ms": ...}``).

        Raises:
            UplinkError: the broker address is unusable.
        """
        self._loop = asyncio.get_running_loop()
        self._on_settled, self._on_state = on_settled, on_state
        if status is not None:
            self._status_source = status
        settings = self._settings
        if settings.tls is not None:
            self._client.tls_set_context(tls_context(settings.tls, self._base_dir))
        # the last will is signed too (replayable, but it only ever says offline)
        will = self._signed(status_payload("offline", self._gateway_id))
        self._client.will_set(self._status, will, qos=QOS, retain=True)
        try:
            self._client.connect_async(settings.host, settings.port, settings.keepalive_s)
        except (ValueError, OSError) as exc:
            raise UplinkError(f"cannot use broker {settings.host}:{settings.port}: {exc}") from exc
        self._client.loop_start()
        self._open = True

    def send(self, seq: int, body: bytes) -> int:
        """Sign batch ``seq`` with the current secret and publish it; return its size.

        A seq whose earlier copy still awaits its PUBACK is not published again
        (paho re-sends that copy itself); 0 is returned then.

        Raises:
            NotConnectedError: no broker connection right now.
            PublishError: paho refused the message.
        """
        if not self._connected:
            raise NotConnectedError(f"not connected to {self._settings.host}:{self._settings.port}")
        if seq in self._in_flight.values():
            return 0
        try:
            envelope = sign_body(self._gateway_id, body, self._secret())
        except ValueError as exc:
            raise PublishError(f"cannot sign batch {seq}: {exc}") from exc
        mid = self._publish(self._telemetry, envelope, retain=False)
        # on_publish reaches us through call_soon_threadsafe, so even a PUBACK that
        # beats this line is handled after the mid is recorded
        self._in_flight[mid] = seq
        return len(envelope)

    def publish_status(self, payload: bytes) -> bool:
        """Publish ``payload`` as the retained status (QoS 1) if connected; else skip it.

        Raises:
            PublishError: paho refused the message.
        """
        if not self._connected or not self._open:
            return False
        self._publish(self._status, self._signed(payload), retain=True)
        return True

    async def close(self, timeout_s: float) -> None:
        """Publish retained offline status, wait for its PUBACK, disconnect cleanly."""
        if not self._open:
            return
        self._open = False
        if self._connected:
            try:
                offline = self._signed(status_payload("offline", self._gateway_id))
                mid = self._publish(self._status, offline, True)
                waiter = self._waiters.setdefault(mid, asyncio.get_running_loop().create_future())
                await asyncio.wait_for(waiter, timeout_s)
            except (UplinkError, TimeoutError) as exc:
                log.warning("mqtt: offline status not confirmed before closing: %s", exc)
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        release_sockets(self._client)
        self._set_connected(False)

    def _signed(self, status: bytes) -> bytes:
        """A status body signed in place with the current secret (``wire.sign_object``)."""
        try:
            return sign_object(status, self._secret())
        except ValueError as exc:
            raise PublishError(f"cannot sign the status: {exc}") from exc

    def _publish(self, topic: str, payload: bytes, retain: bool) -> int:
        try:
            info = self._client.publish(topic, payload, qos=QOS, retain=retain)
        except (ValueError, TypeError) as exc:
            raise PublishError(f"mqtt refused a message for {topic}: {exc}") from exc
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise PublishError(f"mqtt refused a message for {topic}: {paho.error_string(info.rc)}")
        return info.mid

    # --- paho network thread: hand everything to the event loop -------------

    def _to_loop(self, callback: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed between the check and the call
            return

    def _paho_connected(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        _properties: object,
    ) -> None:
        if reason_code.is_failure:
            self._to_loop(self._refused, str(reason_code))
            return
        # here, on the network thread, so the SUBSCRIBE precedes every PUBLISH of
        # this connection and no ack for them can pass by unheard
        _client.subscribe(self._ack_topic, qos=QOS)
        self._to_loop(self._came_up)

    def _paho_connect_failed(self, _client: paho.Client, _userdata: object) -> None:
        self._to_loop(self._unreachable)

    def _paho_disconnected(
        self,
        _client: paho.Client,
        _userdata: object,
        _flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: object,
    ) -> None:
        self._to_loop(self._lost, str(reason_code))

    def _paho_published(
        self,
        _client: paho.Client,
        _userdata: object,
        mid: int,
        _reason_code: ReasonCode,
        _properties: object,
    ) -> None:
        self._to_loop(self._acked, mid)

    def _paho_message(self, _client: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
        if msg.topic == self._ack_topic:
            self._to_loop(self._ack_arrived, bytes(msg.payload))

    # --- event loop thread ----------------------------------------------------

    def _acked(self, mid: int) -> None:
        waiter = self._waiters.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._in_flight.pop(mid, None) is not None:
            self._on_state(self._connected)  # a slot of the window is free: wake the sender

    def _ack_arrived(self, payload: bytes) -> None:
        try:
            ack = self._verified(payload)
        except WireError as exc:
            self._forged += 1
            if self._forged == 1 or self._forged % 100 == 0:
                log.warning("mqtt: ignored %d ack(s) that do not verify: %s", self._forged, exc)
            return
        self._on_settled(ack)

    def _verified(self, payload: bytes) -> Ack:
        try:
            ack = verify_ack(payload, self._secret(), self._gateway_id)
        except BadSignatureError:
            retired = self._retired.value
            if retired is None:
                raise
            return verify_ack(payload, retired, self._gateway_id)
        self._retired.confirm()
        return ack

    def _came_up(self) -> None:
        if not self._open:
            return  # close() has begun: no online message after the offline one
        try:
            # before on_state(True), so it precedes every batch the agent sends
            self._publish(self._status, self._signed(self._status_source()), retain=True)
        except UplinkError as exc:
            log.warning("mqtt: online status not published: %s", exc)
        self._set_connected(True)

    def _set_connected(self, connected: bool) -> None:
        if connected and self._reachable is False:
            log.info("mqtt: connected to %s:%d", self._settings.host, self._settings.port)
        if connected:
            self._reachable = True
        if connected != self._connected:
            self._connected = connected
            self._on_state(connected)

    def _lost(self, reason: str) -> None:
        if self._connected and self._open:
            log.warning("mqtt: connection to broker lost (%s); reconnecting", reason)
            self._reachable = False
        self._set_connected(False)

    def _unreachable(self) -> None:
        if self._reachable is not False:
            log.warning(
                "mqtt: cannot reach broker %s:%d; retrying with backoff",
                self._settings.host,
                self._settings.port,
            )
        self._reachable = False

    def _refused(self, reason: str) -> None:
        if self._reachable is not False:
            log.error("mqtt: broker refused the connection: %s", reason)
        self._reachable = False
