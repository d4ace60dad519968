"""The series a request may read: the caller's filters, resolved within its key's scope.

Layer: HTTP plumbing over :mod:`cloud.storage.access`. A station (site) or gateway
named in the filters that lies outside the key's scope answers 404, exactly as
one that does not exist, so a key cannot probe what other departments have.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import StringConstraints

from cloud.api.params import ID_PATTERN, MAX_DB_ID, MAX_QUANTITIES, REGION_PATTERN
from cloud.api.problems import ApiProblem
from cloud.errors import NotFoundError, SeriesNotFoundError, UnknownGatewayError
from cloud.storage import Storage
from cloud.storage.access import SeriesFilter, VisibleSeries, visible_gateways, visible_series
from cloud.storage.keys import ApiKey
from cloud.storage.sites import list_sites
from device_profiles import load_quantities

Ident = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


def series_filter(
    *,
    station: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="site (station) id", examples=[1])
    ] = None,
    gateway: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="gateway id", examples=["gw-xian-0001"])
    ] = None,
    device: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="device name", examples=["th1"])
    ] = None,
    quantity: Annotated[
        list[Ident] | None,
        Query(
            max_length=MAX_QUANTITIES,
            description="quantity codes of quantities.yaml; repeat for several",
            examples=[["air_temperature"]],
        ),
    ] = None,
    region: Annotated[
        str | None,
        Query(
            pattern=REGION_PATTERN,
            description="administrative region code prefix (GB/T 2260)",
            examples=["610100"],
        ),
    ] = None,
    tenant: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="tenant (department)", examples=["eeb"])
    ] = None,
) -> SeriesFilter:
    """The filters of a reading query."""
    vocabulary = load_quantities()
    for code in quantity or ():
        if code not in vocabulary:
            raise ApiProblem(422, f"quantity: {code!r} is not a quantity code of the vocabulary")
    return SeriesFilter(station, gateway, device, tuple(quantity or ()), region, tenant)


FilterDep = Annotated[SeriesFilter, Depends(series_filter)]


async def resolve(storage: Storage, key: ApiKey, query: SeriesFilter) -> list[VisibleSeries]:
    """The series in scope matching ``query``.

    Raises:
        UnknownGatewayError: the named gateway is unknown or out of scope.
        NotFoundError: the named station is unknown or out of scope.
        SeriesNotFoundError: gateway, device and one quantity named, and no such series.
    """
    if query.gateway is not None and not await visible_gateways(storage, key.scope, query.gateway):
        raise UnknownGatewayError(query.gateway)
    if query.site_id is not None and not await list_sites(
        storage, key.scope, site_id=query.site_id
    ):
        raise NotFoundError("station", query.site_id)
    found = await visible_series(storage, key.scope, query)
    if not found and query.gateway and query.device and len(query.quantities) == 1:
        raise SeriesNotFoundError(query.gateway, query.device, query.quantities[0])
    return found
