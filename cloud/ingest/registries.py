"""Where the listeners look their peers up: HJ 212 stations and NB-IoT channel tables.

Layer: ingest glue (no SQL: :mod:`cloud.storage.hj212_stations` and
:mod:`cloud.storage.nbiot_channels` hold it). In production both live in the
database and are read at every packet or frame, so a station added, changed or
removed, or a table replaced, applies at once without a restart
(:class:`StoredStations`, :class:`StoredTables`). Fixed mappings serve tests and
benches (:class:`FixedStations`, :class:`FixedTables`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from cloud.ingest.hj212_readings import Station
from cloud.storage import Storage
from cloud.storage import hj212_stations as stored_stations
from cloud.storage import nbiot_channels as stored_channels
from wire.compact import Channel
from wire.hj212 import Edition, PeerCipher


class ChannelTables(Protocol):
    """Each NB-IoT gateway's channel table."""

    async def table(self, gateway_id: str) -> Sequence[Channel] | None:
        """The gateway's table, or None when it has none."""


class StationLookup(Protocol):
    """The HJ 212 data loggers the cloud accepts."""

    async def station(self, mn: str) -> Station | None:
        """The station with this MN, or None when unknown."""


class FixedTables:
    """Tables given once (tests, benches)."""

    def __init__(self, tables: Mapping[str, Sequence[Channel]]) -> None:
        self._tables = {gateway: tuple(table) for gateway, table in tables.items()}

    async def table(self, gateway_id: str) -> Sequence[Channel] | None:
        """The gateway's table."""
        return self._tables.get(gateway_id)


class StoredTables:
    """Tables in the database, read at every frame."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def table(self, gateway_id: str) -> Sequence[Channel] | None:
        """The gateway's table as stored now.

        Raises:
            StorageUnavailableError: the database is down.
        """
        return await stored_channels.channels(self._storage, gateway_id)


class FixedStations:
    """Stations given once (tests, benches)."""

    def __init__(self, stations: Mapping[str, Station]) -> None:
        self._stations = dict(stations)

    async def station(self, mn: str) -> Station | None:
        """The station with this MN."""
        return self._stations.get(mn)


class StoredStations:
    """Stations in the database (passwords and keys sealed), read at every packet."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def station(self, mn: str) -> Station | None:
        """The station as stored now.

        Raises:
            StorageUnavailableError: the database is down.
            StorageError: its secrets do not open with the operator key.
        """
        found = await stored_stations.station(self._storage, mn)
        if found is None:
            return None
        cipher = None if found.sm4_key is None else PeerCipher(found.sm4_key)
        return Station(found.mn, found.password, found.gateway_id, Edition(found.edition), cipher)


def channel_tables(tables: ChannelTables | Mapping[str, Sequence[Channel]]) -> ChannelTables:
    """``tables`` as a :class:`ChannelTables` (a mapping becomes :class:`FixedTables`)."""
    return FixedTables(tables) if isinstance(tables, Mapping) else tables


def station_lookup(stations: StationLookup | Mapping[str, Station]) -> StationLookup:
    """``stations`` as a :class:`StationLookup` (a mapping becomes :class:`FixedStations`)."""
    return FixedStations(stations) if isinstance(stations, Mapping) else stations
