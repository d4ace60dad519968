"""Every published HJ 212 example (tests/vectors/hj212.yaml) through ``shanshui hj212``.

As a technician would feed a capture: all packets in one file, decoded with a
valid CRC and the edition their Flag says, encoded back to the same bytes (a CRC
printed in lower case comes back in upper case); the encrypted examples of
HJ 212-2025 decode, with the standard's test key, to their published plain text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from typer.testing import CliRunner

from shanshui.cli import app

VECTORS = yaml.safe_load((Path(__file__).parents[1] / "vectors" / "hj212.yaml").read_text())


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: bytes
    stderr: bytes


def _hj212(*args: str, stdin: bytes = b"") -> Ran:
    result = CliRunner().invoke(app, ["hj212", *args], input=stdin)
    return Ran(result.exit_code, result.stdout_bytes, result.stderr_bytes or b"")


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
    entries = VECTORS["encrypted"]
    (key_hex,) = {entry["key"] for entry in entries}  # the standard's test key, one call
    key = tmp_path / "sm4.key"
    key.write_text(key_hex + "\n")
    capture = "".join(f"{entry['packet']}\r\n" for entry in entries).encode()
    options = ("--key-file", str(key), "--cipher-form", "braced")
    encrypted = _hj212("decode", *options, stdin=capture)
    plain = _hj212("decode", stdin="".join(f"{e['plain']}\r\n" for e in entries).encode())
    assert encrypted.returncode == 0, encrypted.stderr
    assert plain.returncode == 0, plain.stderr
    got = [json.loads(line) for line in encrypted.stdout.splitlines()]
    want = [json.loads(line) for line in plain.stdout.splitlines()]
    assert [g["items"] for g in got] == [w["items"] for w in want]
    assert all(g["crc_valid"] for g in got)
    without_key = _hj212("decode", stdin=capture)
    assert without_key.returncode == 1
    assert without_key.stderr.decode().splitlines() == [
        f"<stdin>:{n}: data area looks SM4-encrypted and no key is configured for this peer"
        for n in range(1, len(entries) + 1)
    ]
