"""NB-IoT compact frame vs HJ 212: bytes for a soil station's 10 readings; codec rates."""

from __future__ import annotations

from bench.timing import best_of
from wire import Batch, Reading
from wire.compact import Channel, decode_compact, encode_compact
from wire.compact_status import CompactStatus, encode_compact_status
from wire.hj212 import (
    DataItem,
    Edition,
    Packet,
    PeerCipher,
    data_cp,
    decode_packet,
    encode_packet,
)

SECRET = bytes(range(32))
T0 = 1_790_000_000_000  # 2026-09-21T12:53:20Z
SOIL = (
    Channel("soil1", "soil_moisture", 1),
    Channel("soil1", "soil_temperature", 1),
    Channel("soil1", "soil_conductivity", 0),
    Channel("soil1", "soil_ph", 2),
    Channel("soil1", "soil_nitrogen", 0),
    Channel("soil1", "soil_phosphorus", 0),
    Channel("soil1", "soil_potassium", 0),
    Channel("soil2", "soil_moisture", 1),
    Channel("soil2", "soil_temperature", 1),
    Channel("node", "battery_voltage", 2),
)
VALUES = ("23.4", "18.7", "1234", "6.85", "112", "38", "164", "27.9", "17.2", "3.61")


def _soil_batch() -> Batch:
    readings = tuple(
        Reading(c.device, c.quantity, T0, float(v)) for c, v in zip(SOIL, VALUES, strict=True)
    )
    return Batch("soil-07", 4711, readings)


def _soil_packet(edition: Edition = Edition.HJ212_2017) -> Packet:
    # HJ 212 has no soil factor codes in our vocabulary yet: codes of the standard's
    # 6-character form stand in (the size depends only on their length).
    items = tuple(
        DataItem(f"s0{i:04d}", (("Rtd", v), ("Flag", "N"))) for i, v in enumerate(VALUES, 1)
    )
    return Packet(
        st="25",
        cn="2011",
        pw="123456",
        mn="010000A8900016F000169DC0",
        cp=data_cp("20260921205320", items),
        qn="20260921205320000",
        edition=edition,
        ack=True,
    )


def run() -> None:
    """Print frame sizes and encode/decode rates."""
    batch, packet = _soil_batch(), _soil_packet()
    frame = encode_compact(batch, SOIL, SECRET)
    hj212 = encode_packet(packet)
    print(
        f"  soil station, 10 readings: compact frame {len(frame)} B (8-byte tag included, "
        f"goal <= 64); the same as an HJ 212-2017 packet {len(hj212)} B"
    )
    status = CompactStatus(
        "soil-07",
        T0,
        devices={"soil1": "ok", "soil2": "degraded", "node": "ok"},
        counters={"pending_readings": 10, "unacked_batches": 1, "uptime_s": 86_400},
        oldest_unsent_age_s=300,
        clock_synced=True,
        signal={"csq": 14, "rssi_dbm": -85, "rsrp_dbm": -97},
    )
    status_frame = encode_compact_status(status, SOIL, SECRET)
    print(
        f"  its status (3 devices, outbox, uptime, clock, signal): compact status frame "
        f"{len(status_frame)} B"
    )
    t_enc = best_of(lambda: encode_compact(batch, SOIL, SECRET), number=2000)
    t_dec = best_of(lambda: decode_compact(frame, SOIL, SECRET), number=2000)
    print(f"  compact: encode+sign {1 / t_enc:10,.0f}/s, verify+decode {1 / t_dec:10,.0f}/s")
    t_hj_dec = best_of(lambda: decode_packet(hj212), number=2000)
    t_hj_enc = best_of(lambda: encode_packet(packet), number=2000)
    print(
        f"  HJ 212 ({len(hj212)} B): decoded {1 / t_hj_dec:10,.0f} packets/s, "
        f"encoded {1 / t_hj_enc:10,.0f}/s"
    )
    cipher = PeerCipher(b"0" * 16)
    packet_2025 = _soil_packet(Edition.HJ212_2025)
    sealed = encode_packet(packet_2025, cipher)
    t_sm4 = best_of(lambda: decode_packet(sealed, cipher), number=2000)
    print(f"  HJ 212-2025 with SM4: decoded {1 / t_sm4:10,.0f} packets/s")
