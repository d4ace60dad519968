"""Remote configuration and commands, cloud side: signed ``down/config`` and ``down/cmd`` out,
the gateway's signed ``up/cmd-ack`` back.

Layer: message building and one short-lived MQTT session (paho-mqtt); the
gateway's secret comes from the registry (the caller passes it). The cloud does
not import the edge: a pushed gateway.yaml gets a structural check here (a YAML
mapping whose ``gateway.id`` is the target gateway and that carries no inline
secret); the full validation is the agent's, whose answer (applied, or rejected
with the loader's ``file:line`` reason) is what :func:`send_and_wait` returns.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from cloud.errors import BrokerUnreachableError, NoAnswerError, RemoteError
from cloud.settings import MqttEndpoint
from wire import WireError
from wire.secret_transfer import seal_secret
from wire.signing import sign_object, verify_object

SECRET_KEYS = frozenset({"secret", "password", "key"})
ROTATE_SECRET = "rotate-secret"  # noqa: S105 - a command's name


def config_message(gateway_id: str, text: str, version: str | None = None) -> tuple[str, bytes]:
    """(version, unsigned message) for ``down/config``.

    Raises:
        RemoteError: ``text`` is no gateway.yaml for ``gateway_id`` or carries a secret.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RemoteError(f"not YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("gateway"), dict):
        raise RemoteError("not a gateway.yaml: no gateway section")
    if document["gateway"].get("id") != gateway_id:
        raise RemoteError(f"gateway.id is not {gateway_id!r}")
    inline = _inline_secret(document, "")
    if inline is not None:
        raise RemoteError(f"{inline}: secrets are never pushed; use *_file keys on the gateway")
    version = version or secrets.token_hex(6)
    body = json.dumps({"version": version, "yaml": text}, separators=(",", ":"))
    return version, body.encode()


def cmd_message(name: str, args: Sequence[str]) -> tuple[str, bytes]:
    """(command id, unsigned message) for ``down/cmd``; numbers stay numbers."""
    command_id = secrets.token_hex(8)
    values: list[Any] = [_number(arg) for arg in args]
    body = json.dumps({"id": command_id, "cmd": name, "args": values}, separators=(",", ":"))
    return command_id, body.encode()


def rotate_message(gateway_id: str, new: bytes, current: bytes) -> tuple[str, bytes]:
    """(command id, unsigned ``rotate-secret`` command) carrying ``new`` sealed for ``current``.

    The new secret travels only encrypted (:mod:`wire.secret_transfer`): under a
    key derived from the secret the gateway holds now, bound to the gateway and
    this command's id.
    """
    command_id = secrets.token_hex(8)
    sealed = seal_secret(new, current, gateway_id, command_id)
    body = {"id": command_id, "cmd": ROTATE_SECRET, "args": [sealed.hex()]}
    return command_id, json.dumps(body, separators=(",", ":")).encode()


async def send_and_wait(  # noqa: PLR0917 - one round trip, all of it
    endpoint: MqttEndpoint,
    topic_root: str,
    gateway_id: str,
    kind: str,
    message: bytes,
    secret: bytes,
    *,
    timeout_s: float = 90.0,
    match: tuple[str, str],
    answer_secrets: Sequence[bytes] = (),
) -> dict[str, Any]:
    """Publish ``message`` signed on ``down/{kind}`` and return the matching signed cmd-ack.

    ``match`` is (key, value) identifying the answer (``("version", v)`` or ``("id", i)``).
    A config is retained, so a gateway that is offline now gets it when it comes back.
    ``answer_secrets``: what the answer may be signed with (default: ``secret``; a
    secret rotation is answered under the new one).

    Raises:
        BrokerUnreachableError: the broker cannot be reached.
        NoAnswerError: no answer within ``timeout_s``.
    """
    verifiers = tuple(answer_secrets) or (secret,)
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[dict[str, Any]] = loop.create_future()
    subscribed = asyncio.Event()
    ack_topic = f"{topic_root}/{gateway_id}/up/cmd-ack"

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        body = _verified(bytes(msg.payload), verifiers)
        if isinstance(body, dict) and body.get(match[0]) == match[1]:
            loop.call_soon_threadsafe(_settle, answer, body)

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    if endpoint.username is not None:
        password = endpoint.password.get_secret_value() if endpoint.password else None
        client.username_pw_set(endpoint.username, password)
    if endpoint.tls:
        client.tls_set()
    client.on_connect = lambda c, *_a: c.subscribe(ack_topic, qos=1)

    def on_subscribe(*_args: object) -> None:
        loop.call_soon_threadsafe(subscribed.set)

    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(endpoint.host, endpoint.port)
    except OSError as exc:
        raise BrokerUnreachableError(
            f"cannot reach the broker at {endpoint.address}: {exc}"
        ) from None
    client.loop_start()
    try:
        async with asyncio.timeout(timeout_s):
            await subscribed.wait()
            client.publish(
                f"{topic_root}/{gateway_id}/down/{kind}",
                sign_object(message, secret),
                qos=1,
                retain=kind == "config",
            )
            return await answer
    except TimeoutError:
        raise NoAnswerError(
            gateway_id, f"no answer from {gateway_id} within {timeout_s:g}s"
        ) from None
    finally:
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        # paho closes its wake-up socketpair only in __del__: close it now, or each
        # round trip of a long-running API holds two descriptors until collected
        client._reset_sockets()


def _verified(payload: bytes, secrets_: Sequence[bytes]) -> object:
    for secret in secrets_:
        try:
            return json.loads(verify_object(payload, secret))
        except (WireError, ValueError):
            continue
    return None


def _settle(answer: asyncio.Future[dict[str, Any]], body: dict[str, Any]) -> None:
    if not answer.done():
        answer.set_result(body)


def _inline_secret(node: object, where: str) -> str | None:
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if str(key) in SECRET_KEYS:
                return path
            found = _inline_secret(value, path)
            if found is not None:
                return found
    if isinstance(node, list):
        for index, value in enumerate(node):
            found = _inline_secret(value, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def _number(arg: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(arg)
        except ValueError:
            continue
    return arg
