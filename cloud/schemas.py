"""Request and response models of the HTTP API.

Layer: API data shapes (pydantic). Validation of query parameters lives here so
routes stay thin; no I/O and no SQL. Times leave the API as ISO 8601 UTC with
millisecond precision and a ``Z`` (``2026-05-01T08:00:00.000Z``) plus
``time_ms``, the same epoch milliseconds the wire format uses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from cloud.storage import (
    DeviceSummary,
    GatewaySummary,
    LatestReading,
    SeriesReadings,
)
from device_profiles import load_quantities

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
DEFAULT_WINDOW = timedelta(hours=24)
MAX_LIMIT = 10_000


def iso_utc_or_none(time: datetime | None) -> str | None:
    """:func:`iso_utc`, passing None through (times that may never have happened)."""
    return None if time is None else iso_utc(time)


def iso_utc(time: datetime) -> str:
    """``2026-05-01T08:00:00.000Z`` for an aware datetime."""
    return time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso_utc_if_time(value: object) -> object:
    return iso_utc(value) if isinstance(value, datetime) else value


UtcTime = Annotated[str, BeforeValidator(_iso_utc_if_time)]
"""A time leaving the API as :func:`iso_utc` text, whether given as a datetime or as text."""


class FromRecord(BaseModel):
    """A response read off a storage record: each field from the attribute of its name.

    A field named otherwise than its attribute says where it comes from with
    ``validation_alias`` (``AliasPath("scope", "regions")``); times are :data:`UtcTime`.
    """

    model_config = ConfigDict(from_attributes=True, validate_by_name=True)

    @classmethod
    def of(cls, record: object) -> Self:
        """From a storage record."""
        return cls.model_validate(record)


class ReadingsQuery(BaseModel):
    """Query parameters of ``GET /api/v1/readings``.

    ``start`` and ``end`` are ISO 8601; without a UTC offset they are taken as
    UTC. The window is ``start <= time < end``; it defaults to the 24 hours
    before ``end``, and ``end`` to now.
    """

    model_config = ConfigDict(extra="forbid")

    gateway: str = Field(pattern=ID_PATTERN, description="gateway id")
    device: str = Field(pattern=ID_PATTERN, description="device name on that gateway")
    quantity: str = Field(pattern=ID_PATTERN, description="quantity code, e.g. air_temperature")
    start: datetime | None = Field(default=None, description="inclusive; default end - 24 h")
    end: datetime | None = Field(default=None, description="exclusive; default now")
    limit: int = Field(default=1000, ge=1, le=MAX_LIMIT, description="most readings returned")

    @field_validator("quantity")
    @classmethod
    def _known_quantity(cls, quantity: str) -> str:
        if quantity not in load_quantities():
            raise ValueError(f"{quantity!r} is not a quantity code of the vocabulary")
        return quantity

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, time: datetime | None) -> datetime | None:
        if time is not None and time.tzinfo is None:
            return time.replace(tzinfo=UTC)
        return time

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.end is None:
            self.end = datetime.now(UTC)
        if self.start is None:
            try:
                self.start = self.end - DEFAULT_WINDOW
            except OverflowError:
                # end within a day of year 1: pydantic turns only ValueError into a 422;
                # anything else escapes as a 500
                raise ValueError("end is too early for the default 24 h window") from None
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self

    @property
    def window(self) -> tuple[datetime, datetime]:
        """``(start, end)`` after defaults."""
        if self.start is None or self.end is None:  # pragma: no cover - set by _window
            raise RuntimeError("window read before validation")
        return self.start, self.end


class ReadingOut(FromRecord):
    """One reading in a series."""

    time: UtcTime = Field(description="ISO 8601 UTC, millisecond precision")
    time_ms: int = Field(description="milliseconds since the Unix epoch")
    value: float
    quality: str = Field(description="HJ 212 data flag: N F M S D C T B")


class SeriesReadingsOut(BaseModel):
    """Response of ``GET /api/v1/readings``."""

    gateway: str
    device: str
    quantity: str
    unit: str
    readings: list[ReadingOut]

    @classmethod
    def of(cls, series: SeriesReadings) -> SeriesReadingsOut:
        """From a storage record."""
        return cls(
            gateway=series.gateway_id,
            device=series.device,
            quantity=series.quantity,
            unit=series.unit,
            readings=[ReadingOut.of(r) for r in series.readings],
        )


class LatestOut(BaseModel):
    """The newest reading of one series."""

    device: str
    quantity: str
    unit: str
    time: str = Field(description="ISO 8601 UTC, millisecond precision")
    time_ms: int = Field(description="milliseconds since the Unix epoch")
    value: float
    quality: str = Field(description="HJ 212 data flag: N F M S D C T B")

    @classmethod
    def of_latest(cls, latest: LatestReading) -> LatestOut:
        """From a storage record."""
        return cls(
            device=latest.device,
            quantity=latest.quantity,
            unit=latest.unit,
            **ReadingOut.of(latest.reading).model_dump(),
        )


class GatewayLatestOut(BaseModel):
    """Response of ``GET /api/v1/gateways/{gateway_id}/latest``."""

    gateway: str
    series: list[LatestOut]


class GatewayStatusOut(BaseModel):
    """Outbox depth, uptime and clock sync as the gateway last reported them."""

    pending_readings: int | None = Field(None, description="readings waiting in its outbox")
    unacked_batches: int | None = Field(None, description="batches sent, not yet acknowledged")
    quarantined_batches: int | None = Field(None, description="batches it set aside as bad")
    resent_batches: int | None = Field(None, description="batches it had to send again")
    thinned_readings: int | None = Field(None, description="readings thinned out when full")
    uptime_s: int | None = Field(None, description="seconds since its agent started")
    clock_synced: bool | None = Field(None, description="whether its clock is NTP-synced")
    forged_acks: int | None = Field(None, description="acks it refused as forged")


class GatewayOut(BaseModel):
    """One gateway in ``GET /api/v1/gateways`` (never its secret)."""

    id: str
    tenant: str
    site: str | None
    disabled: bool
    presence: str | None = Field(description="online/offline as last reported, or null")
    presence_at: str | None = Field(description="when that was received (ISO 8601 UTC)")
    last_batch_at: str | None = Field(description="when its newest batch was received")
    status: GatewayStatusOut = Field(
        description="what its last online up/status reported (fields absent: not reported)"
    )

    @classmethod
    def of(cls, gateway: GatewaySummary) -> GatewayOut:
        """From a storage record."""
        return cls(
            id=gateway.id,
            tenant=gateway.tenant,
            site=gateway.site,
            disabled=gateway.disabled,
            presence=gateway.presence,
            presence_at=iso_utc_or_none(gateway.presence_at),
            last_batch_at=iso_utc_or_none(gateway.last_batch_at),
            status=GatewayStatusOut.model_validate(gateway.status_report),
        )


class DeviceOut(BaseModel):
    """One device in ``GET /api/v1/gateways/{gateway_id}/devices``."""

    name: str
    model: str | None
    health: str | None = Field(description="ok / degraded / unknown as the gateway reports it")
    health_error: str | None = Field(description="why it is degraded")
    health_at: str | None = Field(description="when that was received (ISO 8601 UTC)")
    quantities: list[str]

    @classmethod
    def of(cls, device: DeviceSummary) -> DeviceOut:
        """From a storage record."""
        return cls(
            name=device.name,
            model=device.model,
            health=device.health,
            health_error=device.health_error,
            health_at=iso_utc_or_none(device.health_at),
            quantities=device.quantities,
        )


class IngestHealth(FromRecord):
    """Counters of the in-process ingest worker."""

    connected: bool
    accepted: int
    duplicate: int
    dead_lettered: int
    readings_stored: int


class HealthOut(BaseModel):
    """Response of ``GET /healthz``; HTTP 503 when the database is unreachable."""

    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]
    ingest: IngestHealth | None = Field(description="null when this process runs no worker")
    embedded_servers: list[Literal["postgresql", "mqtt"]] = Field(
        default_factory=list,
        description="embedded development servers this process runs on (not for production)",
    )
    warning: str | None = Field(
        default=None, description="set when running on embedded development servers"
    )
