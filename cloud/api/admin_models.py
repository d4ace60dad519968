"""Request and response models of keys, sharing grants, sites and the audit log.

Layer: API data shapes (pydantic); no I/O. Requests forbid unknown fields; times
in requests are ISO 8601 with an offset (see :mod:`cloud.api.params`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloud.api.params import ID_PATTERN, MAX_DB_ID, MAX_QUANTITIES, REGION_PATTERN, IsoTime
from cloud.schemas import iso_utc, iso_utc_or_none
from cloud.storage.access import Role
from cloud.storage.audit import AuditEntry
from cloud.storage.grants import Grant
from cloud.storage.keys import ApiKey
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


class KeyOut(BaseModel):
    """A key as stored; never its token."""

    id: int
    prefix: str = Field(description="the first characters after ssk_, to tell keys apart")
    name: str
    role: str
    tenant: str | None
    regions: list[str]
    site_ids: list[int]
    gateway_ids: list[str]
    rate_per_s: float
    burst: int
    created_at: str
    expires_at: str | None
    revoked_at: str | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        """From a storage record."""
        return cls(
            id=key.id,
            prefix=key.prefix,
            name=key.name,
            role=key.role,
            tenant=key.tenant,
            regions=list(key.scope.regions),
            site_ids=list(key.scope.site_ids),
            gateway_ids=list(key.scope.gateway_ids),
            rate_per_s=key.rate_per_s,
            burst=key.burst,
            created_at=iso_utc(key.created_at),
            expires_at=iso_utc_or_none(key.expires_at),
            revoked_at=iso_utc_or_none(key.revoked_at),
        )


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


class GrantOut(BaseModel):
    """A sharing grant."""

    id: int
    from_tenant: str
    to_tenant: str
    quantities: list[str]
    valid_from: str | None
    valid_until: str | None
    expires_at: str | None
    note: str
    created_at: str
    revoked_at: str | None

    @classmethod
    def of(cls, grant: Grant) -> GrantOut:
        """From a storage record."""
        return cls(
            id=grant.id,
            from_tenant=grant.from_tenant,
            to_tenant=grant.to_tenant,
            quantities=list(grant.quantities),
            valid_from=iso_utc_or_none(grant.valid_from),
            valid_until=iso_utc_or_none(grant.valid_until),
            expires_at=iso_utc_or_none(grant.expires_at),
            note=grant.note,
            created_at=iso_utc(grant.created_at),
            revoked_at=iso_utc_or_none(grant.revoked_at),
        )


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
        """From a storage record."""
        a = site.attributes
        return cls(
            id=site.id,
            tenant=site.tenant,
            name=site.name,
            latitude=a.latitude,
            longitude=a.longitude,
            region_code=a.region_code,
            monitoring_type=a.monitoring_type,
            noise_zone=a.noise_zone,
            water_body=a.water_body,
            water_target_class=a.water_target_class,
            time_zone=a.time_zone,
        )


class AuditOut(BaseModel):
    """One audit-log entry."""

    id: int
    at: str
    actor: str = Field(examples=["key:Xy12ab34Cd"])
    tenant: str | None
    action: str = Field(examples=["readings.export"])
    target: str
    detail: dict[str, object]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        """From a storage record."""
        return cls(
            id=entry.id,
            at=iso_utc(entry.at),
            actor=entry.actor,
            tenant=entry.tenant,
            action=entry.action,
            target=entry.target,
            detail=entry.detail,
        )
