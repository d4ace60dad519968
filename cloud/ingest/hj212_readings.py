"""HJ 212 data uploads as telemetry batches: which station, which readings, which seq.

Layer: pure ingest logic (no socket, no SQL). The HJ 212 server
(:mod:`cloud.ingest.hj212_server`) authenticates a data logger by MN and
password, then turns each data upload into a :class:`wire.Batch` that the
shared pipeline stores exactly once.

- gateway: the registered gateway the operator bound the station to;
- device: the station's MN; quantity: the vocabulary's code for the HJ 212 factor
  code (``quantities.yaml``, key ``hj212``);
- value: ``-Rtd`` of a real-time upload (CN 2011), ``-Avg`` of a minute upload
  (CN 2051); quality: the item's ``-Flag`` (N when absent);
- time: ``DataTime``, the station's local time (Beijing time, UTC+8, unless the
  station says otherwise);
- seq: from QN (the logger's request id, a millisecond timestamp), the CN and the
  PNO, so that a packet the logger sends again is recognised as the same batch.

Hourly (2061) and daily (2031) means are not stored as readings: the cloud
computes its own rollups from the real-time and minute values. They are answered
and kept in ``dead_letters`` (reason ``hj_means_not_stored``), so nothing is lost.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cloud.ingest.decode import Rejected
from device_profiles import Quantity
from wire import Batch, Hj212Error, MalformedError, Quality, Reading
from wire.hj212 import CN_MINUTE, CN_REALTIME, Edition, Packet, PeerCipher, parse_cp
from wire.hj212.cp import CN_DAILY, CN_HOURLY

STORED_CNS = {CN_REALTIME: "Rtd", CN_MINUTE: "Avg"}
MEAN_CNS = frozenset({CN_HOURLY, CN_DAILY})
_CN_SLOT = {CN_REALTIME: 0, CN_MINUTE: 1, CN_HOURLY: 2, CN_DAILY: 3}
BEIJING = timezone(timedelta(hours=8))

BAD_PASSWORD = "hj_bad_password"  # noqa: S105 - a dead-letter reason
UNKNOWN_MN = "hj_unknown_mn"
HJ212_MALFORMED = "hj_malformed"
HJ212_CRC = "hj_crc"
MEANS_NOT_STORED = "hj_means_not_stored"
UNKNOWN_FACTOR = "unknown_quantity"
WRONG_EDITION = "hj_wrong_edition"


@dataclass(frozen=True, slots=True)
class Station:
    """A data logger the cloud accepts: its MN and password, and where its data goes."""

    mn: str
    password: str
    gateway_id: str
    edition: Edition = Edition.HJ212_2017
    cipher: PeerCipher | None = None
    tz: timezone = BEIJING

    def __repr__(self) -> str:  # the password and the key never reach a log line
        return f"Station(mn={self.mn!r}, gateway_id={self.gateway_id!r}, edition={self.edition})"

    def password_matches(self, password: str) -> bool:
        """Constant-time comparison with the password the packet carries."""
        return hmac.compare_digest(self.password.encode(), password.encode())


def upload_seq(packet: Packet) -> int:
    """The batch seq of a data upload: QN (without the century), CN and PNO.

    Raises:
        Hj212Error: no QN, or a PNO above 999.
    """
    if packet.qn is None:
        raise Hj212Error("a data upload needs a QN")
    part = packet.pno or 0
    if part > 999:
        raise Hj212Error(f"PNO {part} is above 999")
    return (int(packet.qn[2:]) * 4 + _CN_SLOT[packet.cn]) * 1000 + part


def upload_batch(
    packet: Packet, station: Station, quantities: Mapping[str, Quantity]
) -> Batch | Rejected:
    """The readings of a real-time (2011) or minute (2051) upload, as one batch."""
    by_code = {q.hj212: code for code, q in quantities.items() if q.hj212}
    suffix = STORED_CNS[packet.cn]
    try:
        cp = parse_cp(packet.cp)
        time_ms = _time_ms(cp.data_time, station.tz)
        readings = []
        for item in cp.items:
            quantity = by_code.get(item.code)
            if quantity is None:
                detail = f"HJ 212 factor {item.code} has no quantity in the vocabulary"
                return Rejected(UNKNOWN_FACTOR, detail, station.gateway_id)
            value = item.number(suffix)
            if value is None:
                continue  # an item without this upload's value (e.g. only -Cou)
            readings.append(Reading(packet.mn, quantity, time_ms, value, _quality(item.flag)))
        return Batch(station.gateway_id, upload_seq(packet), tuple(readings))
    except (Hj212Error, MalformedError) as exc:
        return Rejected(HJ212_MALFORMED, exc.message, station.gateway_id)


def _time_ms(data_time: str | None, tz: timezone) -> int:
    if data_time is None:
        raise Hj212Error("a data upload needs DataTime")
    try:
        local = datetime.strptime(data_time, "%Y%m%d%H%M%S").replace(tzinfo=tz)
    except ValueError:
        raise Hj212Error(f"DataTime {data_time[:20]!r} is not YYYYMMDDhhmmss") from None
    return int(local.timestamp() * 1000)


def _quality(flag: str | None) -> Quality:
    try:
        return Quality(flag or "N")
    except ValueError:
        raise Hj212Error(f"unknown data flag {flag!r}") from None
