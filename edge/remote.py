"""Remote configuration and commands: the agent under a supervisor that can swap its config.

Layer: lifecycle (asyncio). :class:`Supervisor` runs one :class:`edge.app.Agent`
at a time and a :class:`edge.remote_link.ControlLink` next to it. Every message
on ``down/config`` and ``down/cmd`` must be signed in place with the gateway's
secret (:func:`wire.signing.sign_object`); one that is unsigned or forged changes
nothing and is counted (:attr:`Supervisor.forged`).

``down/config`` (retained): ``{"version": "...", "yaml": "<a complete gateway.yaml>"}``.

1. The text is written next to gateway.yaml as ``gateway.yaml.pushed`` and
   loaded by :func:`edge.config.load_config`: the same checks and the same
   ``file:line: key: message`` errors as a local file.
2. Identity stays local: a pushed config must keep ``gateway.id``,
   ``gateway.secret_file`` and ``gateway.data_dir`` (the outbox survives the
   swap); the secret itself never travels in a config.
3. The running agent stops (in-flight batches stay in the outbox), an agent with
   the new config starts in the same process, and it must reach its broker
   within ``connect_timeout_s``. If it does, the text replaces gateway.yaml
   (atomic rename), so a reboot keeps it; if not, the previous config is started
   again and the push is rejected with the reason.
4. The result goes out on ``up/cmd-ack``, signed:
   ``{"kind":"config","version":...,"result":"applied"|"rejected","reason":...}``.
   The version last handled is kept in ``data_dir/remote.json``; a redelivered
   retained config of that version is ignored.

``down/cmd``: ``{"id": "...", "cmd": NAME, "args": [...]}``; an id already seen
(this run, or the last :data:`SEEN_IDS` kept in ``remote.json``) is ignored. See
:mod:`edge.remote_cmds` for the commands.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from edge.app import Agent
from edge.config import EdgeConfig, load_config
from edge.errors import ConfigError, EdgeError
from edge.remote_cmds import run_command
from edge.remote_link import ControlLink
from edge.remote_secret import (
    ROTATE_SECRET,
    confirm_secret,
    previous_path,
    read_previous,
    secret_path,
)
from wire import WireError
from wire.signing import sign_object, verify_object

log = logging.getLogger(__name__)

STATE_FILE = "remote.json"
SEEN_IDS = 200  # command ids remembered across restarts

AgentFactory = Callable[[EdgeConfig], Agent]


class Supervisor:
    """Runs the agent of ``path``; swaps it for a pushed config, or keeps the old one."""

    def __init__(
        self,
        path: Path,
        *,
        config: EdgeConfig | None = None,
        environ: Mapping[str, str] | None = None,
        connect_timeout_s: float = 60.0,
        agent_factory: AgentFactory = Agent,
    ) -> None:
        """Nothing runs until :meth:`run`.

        Args:
            path: gateway.yaml; a config that proved itself replaces it.
            config: the loaded ``path`` (default: loaded here).
            environ: where ``SHANSHUI_GATEWAY_SECRET`` is looked up.
            connect_timeout_s: how long a new config has to reach its broker.
            agent_factory: builds an agent for a config (tests pass options).
        """
        self.path = path
        self.environ = environ
        self.config = config if config is not None else load_config(path, environ)
        self._timeout_s = connect_timeout_s
        self._factory = agent_factory
        self.agent: Agent | None = None
        self._agent_stop = asyncio.Event()
        self._agent_task: asyncio.Task[None] | None = None
        self._link: ControlLink | None = None
        self._inbox: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue()
        self.forged = 0
        self._begun = asyncio.Event()  # the first agent has been started
        self._state = self._read_state()

    @property
    def applied_version(self) -> str | None:
        """The version of the last pushed config that was applied, if any."""
        version = self._state.get("applied")
        return version if isinstance(version, str) else None

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until the agent is connected and the control channel subscribed.

        Raises:
            TimeoutError: not within ``timeout_s``.
        """
        async with asyncio.timeout(timeout_s):
            await self._begun.wait()
            agent, link = self.agent, self._link
            if agent is None or link is None:
                raise TimeoutError("the supervisor has stopped")
            await agent.wait_until(lambda h: h.uplink_connected, timeout_s)
            await link.ready.wait()

    async def run(self, stop: asyncio.Event, on_started: Callable[[], None] | None = None) -> None:
        """Run until ``stop`` is set, handling pushed configs and commands meanwhile.

        ``on_started`` is called once the first agent and the control channel run
        (where ``shanshui edge run`` tells systemd it is ready).

        Raises:
            RuntimeError: the agent died (a bug; the log has its traceback).
            EdgeError: the first agent cannot start.
        """
        _agent, task = await self._start(self.config, self.applied_version)
        if on_started is not None:
            on_started()
        try:
            stopped = asyncio.ensure_future(stop.wait())
            while not stop.is_set():
                got = asyncio.ensure_future(self._inbox.get())
                done, _ = await asyncio.wait(
                    {stopped, got, task}, return_when=asyncio.FIRST_COMPLETED
                )
                if got in done:
                    await self._handle(*got.result())
                else:
                    got.cancel()
                task = self._agent_task or task
                if task.done():
                    task.result()  # raises what killed it
                    raise RuntimeError("the agent stopped on its own")
            stopped.cancel()
        finally:
            await self._stop()

    # --- lifecycle ------------------------------------------------------------

    async def _start(
        self, config: EdgeConfig, version: str | None
    ) -> tuple[Agent, asyncio.Task[None]]:
        self.config = config
        agent = self.agent = self._factory(config)
        agent.config_version = version  # reported in up/status
        agent.retired_secret.value = read_previous(secret_path(config, self.environ))
        agent.retired_secret.on_confirmed = self._secret_confirmed
        self._agent_stop = asyncio.Event()
        task = self._agent_task = asyncio.create_task(agent.run(self._agent_stop), name="agent")
        self._link = ControlLink(config, self._received)
        await self._link.open()
        self._begun.set()
        return agent, task

    async def _stop(self) -> None:
        if self._link is not None:
            await self._link.close()
            self._link = None
        self._agent_stop.set()
        if self._agent_task is not None:
            with suppress(Exception):
                await self._agent_task
            self._agent_task = None

    async def _reaches_broker(self, agent: Agent, task: asyncio.Task[None]) -> str | None:
        """None once ``agent`` is connected; else why not (within the timeout)."""
        connected = agent.wait_until(lambda h: h.uplink_connected, self._timeout_s)
        waiter = asyncio.ensure_future(connected)
        done, _ = await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
        if waiter in done and waiter.exception() is None:
            return None
        waiter.cancel()
        if task in done:
            exc = task.exception()
            return f"the agent did not start: {exc}" if exc is not None else "the agent stopped"
        mqtt = self.config.settings.mqtt
        return f"broker {mqtt.host}:{mqtt.port} not reached within {self._timeout_s:g}s"

    def use_secret(self, config: EdgeConfig, previous: bytes) -> None:
        """Sign with ``config``'s new secret now; ``previous`` verifies acks until confirmed."""
        self.config = config
        if self.agent is not None:
            self.agent.config = config
            self.agent.retired_secret.value = previous
            self.agent.retired_secret.on_confirmed = self._secret_confirmed

    def _secret_confirmed(self) -> None:
        path = secret_path(self.config, self.environ)
        if path is not None:
            with suppress(OSError):
                previous_path(path).unlink()
        log.info("remote: the cloud acknowledged under the new secret; the old one is deleted")

    # --- messages -------------------------------------------------------------

    def _received(self, kind: str, payload: bytes) -> None:
        try:
            body, retired = self._verified(kind, payload)
            message = json.loads(body)
            if not isinstance(message, dict):
                raise ValueError("not a JSON object")
            if retired and message.get("cmd") != ROTATE_SECRET:
                raise WireError("signed with the previous secret")
        except (WireError, ValueError) as exc:
            self.forged += 1
            log.warning("remote: ignored a %s message that does not verify: %s", kind, exc)
            return
        self._inbox.put_nowait((kind, body, retired))

    def _verified(self, kind: str, payload: bytes) -> tuple[bytes, bool]:
        """The unsigned body, and whether only the secret before a rotation verified it.

        That secret is kept until the cloud confirms the new one; it verifies only a
        ``rotate-secret`` that re-delivers the secret in force (the cloud's
        ``--resume`` when the first answer was lost), which changes nothing.
        """
        try:
            return verify_object(payload, self.config.secret.get_secret_value()), False
        except WireError:
            retired = self.agent.retired_secret.value if self.agent is not None else None
            if kind != "cmd" or retired is None:
                raise
            return verify_object(payload, retired), True

    async def _handle(self, kind: str, body: bytes, retired: bool) -> None:
        message: dict[str, Any] = json.loads(body)
        if kind == "config":
            await self._config(message)
        else:
            command_id = message.get("id")
            if not isinstance(command_id, str) or command_id in self._seen():
                return
            self._remember(command_id)
            if retired:
                answer = confirm_secret(self, command_id, message.get("args", []))
            else:
                answer = await run_command(self, message)
            self._ack({"kind": "cmd", "id": command_id, **answer})

    async def _config(self, message: dict[str, Any]) -> None:
        version, text = message.get("version"), message.get("yaml")
        if not isinstance(version, str) or not isinstance(text, str):
            self._ack(
                {
                    "kind": "config",
                    "version": version,
                    "result": "rejected",
                    "reason": "a config push needs a string version and yaml",
                }
            )
            return
        if version == self._state.get("handled"):
            return  # the retained push, delivered again
        self._state["handled"] = version
        self._write_state()
        reason = await self.apply_text(text, version)
        result = "applied" if reason is None else "rejected"
        if reason is None:
            self._state["applied"] = version
            self._write_state()
            log.info("remote: config %s applied", version)
        else:
            log.warning("remote: config %s rejected: %s", version, reason)
        self._ack({"kind": "config", "version": version, "result": result, "reason": reason})

    async def restart(self) -> str | None:
        """Restart the agent with the config in force; None once it reached its broker."""
        config = self.config
        await self._stop()
        version = self.agent.config_version if self.agent else None
        return await self._reaches_broker(*await self._start(config, version))

    async def apply_text(self, text: str, version: str | None = None) -> str | None:
        """Swap to the config ``text`` (pushed as ``version``); None when applied, else why not."""
        pushed = self.path.with_name(self.path.name + ".pushed")
        try:
            pushed.write_text(text, encoding="utf-8")
            try:
                new = load_config(pushed, self.environ)
            except ConfigError as exc:
                return str(exc)
        finally:
            with suppress(OSError):
                pushed.unlink()
        refused = _identity_change(self.config, new)
        if refused is not None:
            return refused
        old, old_version = self.config, self.agent.config_version if self.agent else None
        await self._stop()
        try:
            reason = await self._reaches_broker(*await self._start(new, version))
        except EdgeError as exc:
            reason = f"the agent did not start: {exc}"
        if reason is None:
            try:
                _replace(self.path, text)
                return None
            except OSError as exc:
                reason = f"cannot write {self.path.name}: {exc}"
        await self._stop()
        await self._start(old, old_version)
        return reason

    def _ack(self, answer: dict[str, Any]) -> None:
        if self._link is None:
            return
        body = json.dumps(answer, separators=(",", ":"), default=str).encode()
        self._link.publish_ack(sign_object(body, self.config.secret.get_secret_value()))

    # --- state kept in data_dir -----------------------------------------------

    def _seen(self) -> list[str]:
        seen = self._state.get("seen")
        return seen if isinstance(seen, list) else []

    def _remember(self, command_id: str) -> None:
        self._state["seen"] = [*self._seen(), command_id][-SEEN_IDS:]
        self._write_state()

    def _read_state(self) -> dict[str, Any]:
        try:
            state = json.loads((self.config.data_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _write_state(self) -> None:
        try:
            self.config.data_dir.mkdir(parents=True, exist_ok=True)
            _replace(self.config.data_dir / STATE_FILE, json.dumps(self._state))
        except OSError as exc:
            log.warning("remote: state not written: %s", exc)


def _identity_change(old: EdgeConfig, new: EdgeConfig) -> str | None:
    """Why ``new`` may not replace ``old`` remotely (identity and outbox stay local)."""
    before, after = old.settings.gateway, new.settings.gateway
    for key in ("id", "secret_file", "data_dir"):
        if getattr(before, key) != getattr(after, key):
            return f"gateway.{key} cannot be changed remotely"
    if old.secret.get_secret_value() != new.secret.get_secret_value():
        return "the gateway secret cannot be changed by a config push"
    return None


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename)."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
