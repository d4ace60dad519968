"""The control channel: ``down/config`` and ``down/cmd`` in, ``up/cmd-ack`` out.

Layer: MQTT transport only (paho-mqtt); it neither verifies nor acts on what
arrives: :mod:`edge.remote` does. It is a second, small MQTT session next to the
uplink's (client id ``{gateway}-ctl``, clean session), so that it lives on while
the agent is swapped for one with a new configuration. It connects to the broker
of the configuration in force and is rebuilt with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import EdgeConfig
from edge.errors import UplinkError
from edge.uplink.paho_client import release_sockets
from edge.uplink.tls import tls_context

log = logging.getLogger(__name__)

QOS = 1

Received = Callable[[str, bytes], None]  # (kind: "config" | "cmd", payload)


def config_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gateway}/down/config`` (retained): a signed new gateway.yaml."""
    return f"{topic_root}/{gateway_id}/down/config"


def cmd_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gateway}/down/cmd``: a signed command with an id."""
    return f"{topic_root}/{gateway_id}/down/cmd"


def cmd_ack_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gateway}/up/cmd-ack``: the signed result of a config or a command."""
    return f"{topic_root}/{gateway_id}/up/cmd-ack"


class ControlLink:
    """A paho session subscribed to the gateway's ``down/config`` and ``down/cmd``."""

    def __init__(self, config: EdgeConfig, received: Received) -> None:
        """Configure the session; nothing connects until :meth:`open`."""
        mqtt = config.settings.mqtt
        self._mqtt = mqtt
        root, gw = mqtt.topic_root, config.gateway_id
        self._topics = {config_topic(root, gw): "config", cmd_topic(root, gw): "cmd"}
        self._ack_topic = cmd_ack_topic(root, gw)
        self._received = received
        self._base_dir = config.source.parent if config.source is not None else Path.cwd()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{gw}-ctl",
            clean_session=True,
            protocol=paho.MQTTv311,
        )
        client.reconnect_delay_set(1, 30)
        if mqtt.username is not None:
            password = config.mqtt_password
            client.username_pw_set(
                mqtt.username, password.get_secret_value() if password is not None else None
            )
        client.on_connect = self._paho_connected
        client.on_message = self._paho_message
        client.on_subscribe = self._paho_subscribed
        self.ready = asyncio.Event()  # set once subscribed to down/config and down/cmd
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open = False
        self._sent: list[paho.MQTTMessageInfo] = []

    async def open(self) -> None:
        """Start connecting in the background.

        Raises:
            UplinkError: the broker address is unusable.
        """
        self._loop = asyncio.get_running_loop()
        if self._mqtt.tls is not None:
            self._client.tls_set_context(tls_context(self._mqtt.tls, self._base_dir))
        try:
            self._client.connect_async(self._mqtt.host, self._mqtt.port, self._mqtt.keepalive_s)
        except (ValueError, OSError) as exc:
            raise UplinkError(
                f"cannot use broker {self._mqtt.host}:{self._mqtt.port}: {exc}"
            ) from exc
        self._client.loop_start()
        self._open = True

    def publish_ack(self, payload: bytes) -> None:
        """Queue a signed ``up/cmd-ack`` (QoS 1; paho sends it once connected)."""
        if self._open:
            self._sent = [info for info in self._sent if not info.is_published()]
            self._sent.append(self._client.publish(self._ack_topic, payload, qos=QOS))

    async def close(self) -> None:
        """Disconnect (after what was queued had a moment to leave) and stop the thread."""
        if not self._open:
            return
        self._open = False
        for info in self._sent:  # acks still queued get a moment to leave
            with suppress(RuntimeError, ValueError):
                await asyncio.to_thread(info.wait_for_publish, 2.0)
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        release_sockets(self._client)

    def _paho_connected(
        self,
        client: paho.Client,
        _userdata: object,
        _flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        _properties: object,
    ) -> None:
        if reason_code.is_failure:
            log.warning("control channel: broker refused the connection: %s", reason_code)
            return
        client.subscribe([(topic, QOS) for topic in self._topics])

    def _paho_subscribed(self, *_args: object) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(self.ready.set)

    def _paho_message(self, _client: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
        kind = self._topics.get(msg.topic)
        loop = self._loop
        if kind is None or loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._received, kind, bytes(msg.payload))
        except RuntimeError:  # the loop closed meanwhile
            return
