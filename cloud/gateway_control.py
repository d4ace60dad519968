"""Remote control of one gateway, the one code path of the CLI and the API.

Layer: operations over the registry (:class:`cloud.storage.Storage`), the audit
log and :mod:`cloud.remote` (messages and the MQTT round trip). Each operation
signs with the gateway's secret from the registry, waits for the gateway's
signed answer on ``up/cmd-ack``, writes one audit line (who, what, the
gateway's result; never a secret, never a sealed one) and returns the answer.

``rotate_secret_and_push``: the registry issues the new secret first (the old
one keeps verifying for the grace period, so batches the gateway signed just
before are accepted and acknowledged), then a ``rotate-secret`` command carries
it, encrypted for the gateway under its current secret, and the answer must be
signed with the new secret. When no answer comes, the rotation stands in the
registry: the gateway keeps signing with the old secret, accepted until the
grace period ends; the error says so, and ``resume_rotation`` (``--resume``)
delivers the same secret again, sealed under and signed with the old one, which
the gateway keeps until the cloud confirms the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cloud.errors import NoAnswerError, RemoteError, UnknownGatewayError
from cloud.remote import (
    ROTATE_SECRET,
    cmd_message,
    config_message,
    rotate_message,
    send_and_wait,
)
from cloud.settings import MqttEndpoint
from cloud.storage import Storage, audit

OK_RESULTS = frozenset({"applied", "ok"})


@dataclass(frozen=True, slots=True)
class Broker:
    """Where configs and commands go: the broker and the topic root."""

    endpoint: MqttEndpoint
    topic_root: str


async def push_config(
    storage: Storage,
    broker: Broker,
    gateway_id: str,
    text: str,
    version: str | None,
    *,
    timeout_s: float,
    actor: str,
) -> dict[str, Any]:
    """Push ``text`` as the gateway's gateway.yaml; the gateway's answer.

    Raises:
        UnknownGatewayError: unknown, disabled or revoked.
        RemoteError: not a gateway.yaml for this gateway, or it carries a secret.
        BrokerUnreachableError, NoAnswerError: see :func:`cloud.remote.send_and_wait`.
    """
    secret = await _secret(storage, gateway_id)
    label, message = config_message(gateway_id, text, version)
    detail: dict[str, Any] = {"version": label}
    return await _round_trip(
        storage, broker, gateway_id, "config", message, secret, ("version", label),
        timeout_s=timeout_s, actor=actor, action="gateway.push_config", detail=detail,
    )  # fmt: skip


async def send_command(
    storage: Storage,
    broker: Broker,
    gateway_id: str,
    name: str,
    args: Sequence[str],
    *,
    timeout_s: float,
    actor: str,
) -> dict[str, Any]:
    """Send command ``name`` with ``args``; the gateway's answer.

    Raises:
        UnknownGatewayError: unknown, disabled or revoked.
        RemoteError: ``rotate-secret`` (it has its own operation).
        BrokerUnreachableError, NoAnswerError: see :func:`cloud.remote.send_and_wait`.
    """
    if name == ROTATE_SECRET:
        raise RemoteError("rotate-secret is sent by `gateway rotate-secret GATEWAY --push`")
    secret = await _secret(storage, gateway_id)
    command_id, message = cmd_message(name, args)
    detail: dict[str, Any] = {"cmd": name, "args": list(args), "id": command_id}
    return await _round_trip(
        storage, broker, gateway_id, "cmd", message, secret, ("id", command_id),
        timeout_s=timeout_s, actor=actor, action="gateway.command", detail=detail,
    )  # fmt: skip


async def rotate_secret_and_push(
    storage: Storage,
    broker: Broker,
    gateway_id: str,
    *,
    grace: timedelta,
    timeout_s: float,
    actor: str,
) -> dict[str, Any]:
    """Issue a new secret and deliver it encrypted on ``down/cmd``; the gateway's answer.

    Raises:
        UnknownGatewayError: unknown, disabled or revoked.
        BrokerUnreachableError: the broker cannot be reached (the secret was rotated:
            the old one verifies for ``grace``).
        NoAnswerError: no answer signed with the new secret in time (likewise).
    """
    current = await _secret(storage, gateway_id)
    new = await storage.rotate_secret(gateway_id, grace=grace, actor=actor)
    command_id, message = rotate_message(gateway_id, new, current)
    detail: dict[str, Any] = {"cmd": ROTATE_SECRET, "id": command_id}
    hours = grace.total_seconds() / 3600
    try:
        return await _round_trip(
            storage, broker, gateway_id, "cmd", message, current, ("id", command_id),
            timeout_s=timeout_s, actor=actor, action="gateway.command", detail=detail,
            answer_secrets=(new, current),
        )  # fmt: skip
    except NoAnswerError as exc:
        raise NoAnswerError(
            gateway_id,
            f"{exc}: the registry has the new secret; the gateway signs with the old one, "
            f"accepted for {hours:g} h more: deliver it again before then with "
            f"`shanshui cloud gateway rotate-secret {gateway_id} --push --resume`",
        ) from None


async def resume_rotation(
    storage: Storage, broker: Broker, gateway_id: str, *, timeout_s: float, actor: str
) -> dict[str, Any]:
    """Deliver the secret of a rotation still in its grace period again (no new secret).

    Raises:
        UnknownGatewayError: unknown, disabled or revoked.
        RemoteError: no rotation is pending (the previous secret no longer verifies).
        BrokerUnreachableError, NoAnswerError: see :func:`cloud.remote.send_and_wait`.
    """
    keys = await storage.gateway_keys(gateway_id)
    if keys is None or not keys.usable:
        raise UnknownGatewayError(gateway_id)
    if keys.previous is None:
        raise RemoteError(f"no rotation of {gateway_id} is pending: nothing to deliver again")
    command_id, message = rotate_message(gateway_id, keys.current, keys.previous)
    detail: dict[str, Any] = {"cmd": ROTATE_SECRET, "id": command_id, "resumed": True}
    return await _round_trip(
        storage, broker, gateway_id, "cmd", message, keys.previous, ("id", command_id),
        timeout_s=timeout_s, actor=actor, action="gateway.command", detail=detail,
        answer_secrets=(keys.current,),
    )  # fmt: skip


async def _secret(storage: Storage, gateway_id: str) -> bytes:
    secret = await storage.gateway_secret(gateway_id)
    if secret is None:
        raise UnknownGatewayError(gateway_id)
    return secret


async def _round_trip(  # noqa: PLR0917 - one round trip and its audit line
    storage: Storage,
    broker: Broker,
    gateway_id: str,
    kind: str,
    message: bytes,
    secret: bytes,
    match: tuple[str, str],
    *,
    timeout_s: float,
    actor: str,
    action: str,
    detail: dict[str, Any],
    answer_secrets: Sequence[bytes] = (),
) -> dict[str, Any]:
    try:
        answer = await send_and_wait(
            broker.endpoint, broker.topic_root, gateway_id, kind, message, secret,
            timeout_s=timeout_s, match=match, answer_secrets=answer_secrets,
        )  # fmt: skip
    except RemoteError as exc:
        result = "no_answer" if isinstance(exc, NoAnswerError) else "not_sent"
        failed = detail | {"result": result}
        await audit.record_for_gateway(storage, actor, action, gateway_id, failed)
        raise
    outcome = {"result": answer.get("result"), "reason": answer.get("reason")}
    await audit.record_for_gateway(storage, actor, action, gateway_id, detail | outcome)
    return answer
