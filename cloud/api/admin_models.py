"""Request and response models of keys, sharing grants, sites and the audit log.

Layer: API data shapes (pydantic); no I/O. Requests forbid unknown fields; times
in requests are ISO 8601 with an offset (see :mod:`cloud.api.params`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from pydantic import AliasPath, BaseModel, ConfigDict, Field, StringConstraints

from cloud.api.params import ID_PATTERN, MAX_DB_ID, MAX_QUANTITIES, REGION_PATTERN, IsoTime
from cloud.schemas import FromRecord, UtcTime
from cloud.storage.access import Role
from cloud.storage.sites import MonitoringType, NoiseZone, Site, WaterClass

Ident = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
RegionPrefix = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]
RegionCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}([0-9]{3}([0-9]{3})?)?$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]


class KeyIn(BaseModel):
    """A key to issue. A tenant admin issues keys of its own tenant only."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(examples=["analyst Li, air quality"])
    role: Role = Field(examples=["analyst"])
    tenant: Ident | None = Field(default=None, description="null only for a platform admin key")
    regions: list[RegionPrefix] = Field(default=[], max_length=100, examples=[["6101"]])
    site_ids: list[DbId] = Field(default=[], max_length=1000)
    gateway_ids: list[Ident] = Field(default=[], max_length=1000)
    rate_per_s: float = Field(default=20.0, gt=0, le=100_000)
    burst: int = Field(default=100, ge=1, le=1_000_000)
    expires_at: IsoTime | None = None


class KeyOut(FromRecord):
    """A key as stored; never its token."""

    id: int
    prefix: str = Field(description="the first characters after ssk_, to tell keys apart")
    name: str
    role: str
    tenant: str | None
    regions: list[str] = Field(validation_alias=AliasPath("scope", "regions"))
    site_ids: list[int] = Field(validation_alias=AliasPath("scope", "site_ids"))
    gateway_ids: list[str] = Field(validation_alias=AliasPath("scope", "gateway_ids"))
    rate_per_s: float
    burst: int
    created_at: UtcTime
    expires_at: UtcTime | None
    revoked_at: UtcTime | None


class IssuedKey(KeyOut):
    """A key just issued: ``token`` is shown this once and cannot be retrieved later."""

    token: str = Field(description="the key itself: send it as Authorization: Bearer <token>")


class GrantIn(BaseModel):
    """Data a tenant shares with another. A tenant admin grants from its own tenant only."""

    model_config = ConfigDict(extra="forbid")

    from_tenant: Ident = Field(examples=["eeb"])
    to_tenant: Ident = Field(examples=["water-resources"])
    quantities: list[Ident] = Field(
        default=[], max_length=MAX_QUANTITIES, description="empty: every quantity"
    )
    valid_from: IsoTime | None = Field(default=None, description="readings from (inclusive)")
    valid_until: IsoTime | None = Field(default=None, description="readings until (exclusive)")
    expires_at: IsoTime | None = Field(default=None, description="the grant ends then")
    note: Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")] = ""


class GrantOut(FromRecord):
    """A sharing grant."""

    id: int
    from_tenant: str
    to_tenant: str
    quantities: list[str]
    valid_from: UtcTime | None
    valid_until: UtcTime | None
    expires_at: UtcTime | None
    note: str
    created_at: UtcTime
    revoked_at: UtcTime | None


class SiteFields(BaseModel):
    """What describes a station; in a PATCH, only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    latitude: float | None = Field(default=None, ge=-90, le=90, examples=[34.26])
    longitude: float | None = Field(default=None, ge=-180, le=180, examples=[108.94])
    region_code: RegionCode | None = Field(default=None, examples=["610113"])
    monitoring_type: MonitoringType | None = Field(default=None, examples=["air"])
    noise_zone: NoiseZone | None = Field(default=None, description="GB 3096-2008 class")
    water_body: Text | None = Field(default=None, examples=["Wei River"])
    water_target_class: WaterClass | None = Field(default=None, description="GB 3838-2002")
    time_zone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, examples=["Asia/Shanghai"]
    )


class SiteIn(SiteFields):
    """A station to add."""

    tenant: Ident = Field(examples=["eeb"])
    name: Text = Field(examples=["Xi'an Xiaozhai"])


class SiteOut(BaseModel):
    """A station."""

    id: int
    tenant: str
    name: str
    latitude: float | None
    longitude: float | None
    region_code: str | None
    monitoring_type: str | None
    noise_zone: str | None
    water_body: str | None
    water_target_class: str | None
    time_zone: str

    @classmethod
    def of(cls, site: Site) -> SiteOut:
        """From a storage record: its attributes beside id, tenant and name."""
        return cls(id=site.id, tenant=site.tenant, name=site.name, **asdict(site.attributes))


class AuditOut(FromRecord):
    """One audit-log entry."""

    id: int
    at: UtcTime
    actor: str = Field(examples=["key:Xy12ab34Cd"])
    tenant: str | None
    action: str = Field(examples=["readings.export"])
    target: str
    detail: dict[str, object]
