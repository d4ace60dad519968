"""Request and response models of remote configuration and commands.

Layer: API data shapes (pydantic); no I/O. Requests forbid unknown fields. The
answer is the gateway's own, verified with its secret; it never carries a secret.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints

MAX_CONFIG_CHARS = 256 * 1024
Version = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
CommandName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
Argument = Annotated[str, StringConstraints(max_length=200)] | StrictInt | StrictFloat


class ConfigIn(BaseModel):
    """A complete gateway.yaml to push (retained on ``down/config``, signed)."""

    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(
        min_length=1,
        max_length=MAX_CONFIG_CHARS,
        description="the complete new gateway.yaml; secrets stay on the gateway (*_file keys)",
        examples=["gateway: {id: gw-01, secret_file: gateway.secret}\nmqtt: {host: broker}\n"],
    )
    version: Version | None = Field(
        default=None, description="a label for this config (default: random)", examples=["v7"]
    )
    timeout_s: float = Field(
        default=90.0, gt=0, le=300, description="how long to wait for the gateway's answer"
    )


class CommandIn(BaseModel):
    """A command for ``down/cmd`` (signed, with a fresh id)."""

    model_config = ConfigDict(extra="forbid")

    cmd: CommandName = Field(
        description="diagnostics | poll-now | set-interval | resend", examples=["set-interval"]
    )
    args: list[Argument] = Field(default=[], max_length=16, examples=[["th1", 30]])
    timeout_s: float = Field(
        default=30.0, gt=0, le=300, description="how long to wait for the gateway's answer"
    )


class RotateIn(BaseModel):
    """A secret rotation delivered to the gateway, encrypted, on ``down/cmd``."""

    model_config = ConfigDict(extra="forbid")

    grace_hours: float = Field(
        default=24.0, ge=0, le=24 * 365, description="hours the old secret still verifies"
    )
    resume: bool = Field(
        default=False,
        description="issue no new secret: deliver the pending rotation's again (after a 504)",
    )
    timeout_s: float = Field(
        default=30.0, gt=0, le=300, description="how long to wait for the gateway's answer"
    )


class GatewayAnswer(BaseModel):
    """The gateway's signed answer on ``up/cmd-ack`` (verified; the signature dropped)."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="config or cmd", examples=["cmd"])
    result: str = Field(
        description="applied | ok | rejected | not_available", examples=["ok", "rejected"]
    )
    reason: str | None = Field(default=None, description="why it was rejected")
    id: str | None = Field(default=None, description="the command's id")
    cmd: str | None = Field(default=None, description="the command")
    version: str | None = Field(default=None, description="the config's version")
    health: dict[str, Any] | None = Field(default=None, description="diagnostics: the status")
