"""Building and releasing paho-mqtt clients the way the gateway uses them.

Layer: the paho-mqtt boundary (no asyncio, no signing): a persistent-session
client for the uplink, and the release of a stopped client's sockets.
"""

from __future__ import annotations

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from edge.config import MqttSection


def session_client(
    gateway_id: str,
    settings: MqttSection,
    password: SecretStr | None,
    reconnect_s: tuple[int, int],
    max_in_flight: int,
) -> paho.Client:
    """An MQTT 3.1.1 client with ``client_id`` = gateway id and a persistent session.

    ``reconnect_s`` is paho's (first, longest) reconnect delay; ``max_in_flight``
    its window of un-PUBACKed QoS 1 messages. Logs in when ``settings.username``
    is set. No callbacks, nothing connected.
    """
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=gateway_id,
        clean_session=False,
        protocol=paho.MQTTv311,
    )
    client.reconnect_delay_set(*reconnect_s)
    client.max_inflight_messages_set(max_in_flight)
    if settings.username is not None:
        login = password.get_secret_value() if password is not None else None
        client.username_pw_set(settings.username, login)
    return client


def release_sockets(client: paho.Client) -> None:
    """Close a stopped client's sockets now (its connection and its wake-up socketpair).

    paho creates the socketpair in ``loop_start`` and closes it only in
    ``__del__``; a client in a reference cycle (its callbacks are our bound
    methods) is freed by the garbage collector later, which may finalise the
    sockets first: "unclosed socket" ResourceWarnings, and two descriptors held
    per client meanwhile. Call after ``disconnect()`` and ``loop_stop()``.
    """
    client._reset_sockets()  # paho has no public way to do this
