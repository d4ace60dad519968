"""Every published HJ 212 example (tests/vectors/hj212.yaml) through ``shanshui hj212``.

As a technician would feed a capture: all packets in one file, decoded with a
valid CRC and the edition their Flag says, encoded back to the same bytes (a CRC
printed in lower case comes back in upper case); the encrypted examples of
HJ 212-2025 decode, with the standard's test key, to their published plain text.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

VECTORS = yaml.safe_load((Path(__file__).parents[1] / "vectors" / "hj212.yaml").read_text())


def _hj212(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "shanshui", "hj212", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=60,
    )


def _crc_upper(packet: str) -> str:
    return packet[:-4] + packet[-4:].upper()


def test_every_published_plain_packet_decodes_and_encodes_back(tmp_path: Path) -> None:
    packets = [entry["packet"] for entry in VECTORS["plain"]]
    capture = tmp_path / "capture.txt"
    capture.write_bytes("".join(f"{p}\r\n" for p in packets).encode())
    decoded = _hj212("decode", str(capture))
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stderr == b""
    records = [json.loads(line) for line in decoded.stdout.splitlines()]
    assert len(records) == len(packets)
    for packet, record in zip(packets, records, strict=True):
        assert record["crc_valid"] is True, packet
        assert record["crc"] == packet[-4:].upper()
        flag = int(packet.split("Flag=")[1].split(";")[0])
        assert record["edition"] == ("2017" if flag >> 2 == 1 else "2025"), packet
    encoded = _hj212("encode", stdin=decoded.stdout)
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout.decode().splitlines() == [_crc_upper(p) for p in packets]


def test_the_encrypted_examples_decode_to_their_published_plain_text(tmp_path: Path) -> None:
    for n, entry in enumerate(VECTORS["encrypted"]):
        key = tmp_path / f"key{n}"
        key.write_text(entry["key"] + "\n")
        options = ("--key-file", str(key), "--cipher-form", "braced")
        encrypted = _hj212("decode", *options, stdin=f"{entry['packet']}\r\n".encode())
        plain = _hj212("decode", stdin=f"{entry['plain']}\r\n".encode())
        assert encrypted.returncode == 0, encrypted.stderr
        assert plain.returncode == 0, plain.stderr
        got, want = json.loads(encrypted.stdout), json.loads(plain.stdout)
        assert got["items"] == want["items"], entry["source"]
        assert got["crc_valid"] is True
        without_key = _hj212("decode", stdin=f"{entry['packet']}\r\n".encode())
        assert without_key.returncode == 1
        assert without_key.stderr.decode().strip() == (
            "<stdin>:1: data area looks SM4-encrypted and no key is configured for this peer"
        )
