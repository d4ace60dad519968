"""Response models of the reading queries (raw pages, buckets, latest values).

Layer: API data shapes (pydantic); no I/O. Times leave as ISO 8601 UTC with
millisecond precision and a ``Z``, plus ``time_ms`` (epoch milliseconds).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from cloud.schemas import iso_utc
from cloud.storage.access import VisibleSeries
from cloud.storage.aggregates import Bucket
from cloud.storage.models import to_time_ms
from cloud.storage.queries import Row


class SeriesRef(BaseModel):
    """Which series a value belongs to."""

    station: int | None = Field(description="site (station) id, null if the gateway has none")
    gateway: str
    device: str
    quantity: str
    unit: str

    @staticmethod
    def fields_of(series: VisibleSeries) -> dict[str, object]:
        """The reference fields of a resolved series."""
        return {
            "station": series.site_id,
            "gateway": series.gateway,
            "device": series.device,
            "quantity": series.quantity,
            "unit": series.unit,
        }


class ReadingRow(SeriesRef):
    """One reading."""

    time: str = Field(description="ISO 8601 UTC", examples=["2026-05-01T00:00:00.000Z"])
    time_ms: int = Field(description="milliseconds since the Unix epoch")
    value: float
    quality: str = Field(description="HJ 212 data flag: N F M S D C T B", examples=["N"])
    mean_of: int | None = Field(
        default=None,
        description="a thinned reading: the mean of this many raw readings, which the "
        "gateway's full outbox averaged (at the time of the first); null for a raw reading",
        examples=[None, 6],
    )

    @classmethod
    def of(cls, row: Row, series: VisibleSeries) -> ReadingRow:
        """From a storage row and its series."""
        return cls(
            **SeriesRef.fields_of(series),
            time=iso_utc(row.time),
            time_ms=to_time_ms(row.time),
            value=row.value,
            quality=row.quality,
            mean_of=row.mean_of,
        )


class ReadingsPage(BaseModel):
    """A page of readings; pass ``next_cursor`` back as ``cursor`` for the next one."""

    start: str = Field(description="the window's inclusive start (ISO 8601 UTC)")
    end: str = Field(description="the window's exclusive end")
    order: str = Field(examples=["asc"])
    readings: list[ReadingRow]
    has_more: bool = Field(description="true when more readings of the window follow")
    next_cursor: str | None = Field(description="the cursor of the next page, null at the end")


class BucketOut(BaseModel):
    """Aggregates of one bucket (valid readings, flag N, only)."""

    start: str = Field(description="the bucket's first instant (ISO 8601 UTC)")
    start_ms: int
    avg: float
    min: float
    max: float
    count: int

    @classmethod
    def of(cls, bucket: Bucket) -> BucketOut:
        """From a storage record."""
        return cls(
            start=iso_utc(bucket.start),
            start_ms=to_time_ms(bucket.start),
            avg=bucket.avg,
            min=bucket.min,
            max=bucket.max,
            count=bucket.count,
        )


class SeriesBuckets(SeriesRef):
    """The buckets of one series."""

    time_zone: str = Field(description="where calendar buckets are cut", examples=["Asia/Shanghai"])
    buckets: list[BucketOut]


class AggregatesOut(BaseModel):
    """Response of ``GET /api/v1/aggregates``."""

    bucket: str = Field(examples=["1h"])
    start: str
    end: str
    series: list[SeriesBuckets]


class LatestRow(ReadingRow):
    """The newest reading of a series."""


class LatestList(BaseModel):
    """Response of ``GET /api/v1/latest``."""

    series: list[LatestRow]
