"""``BrokerLink``: the paho-mqtt client of an ingest worker, on paho's network thread.

Layer: transport (I/O glue). Connects, subscribes (again after every
reconnection), and hands what happens to the worker's event loop with
``call_soon_threadsafe``: paho's thread does no work of its own. Acknowledgements
are manual (``manual_ack=True``): the worker calls :meth:`BrokerLink.ack` once a
message is settled, and an acknowledgement of a message from a connection that
has since ended is dropped (packet ids are per connection; the broker delivers
such a message again).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cloud.metrics import BROKER_CONNECTED
from cloud.settings import MqttEndpoint

log = logging.getLogger("cloud.ingest.mqtt")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as the broker delivered it."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int


class LinkListener(Protocol):
    """What the worker is told, on its event loop."""

    def link_changed(self, connected: bool) -> None:
        """The broker connection came up or went down."""

    def subscription_granted(self) -> None:
        """The broker granted the subscription (after each connection)."""

    def unsubscribed(self) -> None:
        """The broker confirmed the unsubscription."""

    def received(self, delivery: Delivery) -> None:
        """A message arrived."""


class BrokerLink:
    """paho client of one worker; see the module docstring.

    Args:
        endpoint: the broker.
        subscription: the topic filter to subscribe to, at QoS 1.
        client_id: a stable id gives a persistent session; None a random id and a
            clean session.
        keepalive_s: MQTT keepalive.
        listener: told of connections, grants and messages, on the event loop.
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        subscription: str,
        client_id: str | None,
        keepalive_s: int,
        listener: LinkListener,
    ) -> None:
        self._endpoint = endpoint
        self._subscription = subscription
        self._keepalive_s = keepalive_s
        self._listener = listener
        self._lock = threading.Lock()  # guards _connection across threads
        self._connection = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._was_connected = False
        self.draining = False  # set: do not subscribe again after a reconnection
        self.stopping = False  # set: a lost connection is expected, not a warning
        self.refused: str | None = None  # why the broker refused us, if it did
        self._client = self._make_client(client_id)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect in the background; the listener is called on ``loop``."""
        self._loop = loop
        self._client.connect_async(self._endpoint.host, self._endpoint.port, self._keepalive_s)
        self._client.loop_start()

    def unsubscribe(self) -> bool:
        """Ask the broker to stop sending; False if the request could not be sent."""
        result, _ = self._client.unsubscribe(self._subscription)
        return result == mqtt.MQTT_ERR_SUCCESS

    async def close(self) -> None:
        """Disconnect and stop paho's network thread."""
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        BROKER_CONNECTED.set(0)

    def ack(self, delivery: Delivery) -> None:
        """Acknowledge (PUBACK) a settled message, if its connection still stands."""
        with self._lock:
            if delivery.connection == self._connection:
                self._client.ack(delivery.mid, delivery.qos)

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        """Publish without waiting (paho queues it)."""
        self._client.publish(topic, payload, qos=qos)

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
            self.refused = f"broker refused the connection ({reason_code})"
            log.error("%s at %s", self.refused, self._endpoint.address)
            return
        with self._lock:
            self._connection += 1
        BROKER_CONNECTED.set(1)
        self._call_in_loop(self._listener.link_changed, True)
        if self._was_connected:
            log.info("ingest reconnected to %s", self._endpoint.address)
        self._was_connected = True
        if not self.draining:
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
        BROKER_CONNECTED.set(0)
        self._call_in_loop(self._listener.link_changed, False)
        if not self.stopping:
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
            self.refused = f"broker refused the subscription {self._subscription}"
            log.error("%s at %s", self.refused, self._endpoint.address)
            return
        self._call_in_loop(self._listener.subscription_granted)

    def _on_unsubscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._call_in_loop(self._listener.unsubscribed)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            connection = self._connection
        delivery = Delivery(msg.topic, bytes(msg.payload), msg.mid, msg.qos, connection)
        self._call_in_loop(self._listener.received, delivery)

    def _call_in_loop(self, callback: Callable[..., object], *args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)
