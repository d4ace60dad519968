"""``shanshui hj212 decode|encode``: what a technician types at a logger's packets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

VECTORS = yaml.safe_load((Path(__file__).parents[1] / "vectors" / "hj212.yaml").read_text())
STANDARD = VECTORS["plain"][0]["packet"]  # HJ 212-2017 example, CN=1062, CRC 1C80
HOURLY = VECTORS["plain"][5]["packet"]  # HJ 212-2025 Appendix A.2, CN=2051
TEST_KEY = VECTORS["encrypted"][0]["key"]


def _hj212(
    *args: str, stdin: bytes, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "shanshui", "hj212", *args],
        input=stdin,
        capture_output=True,
        check=False,
        env=env,
    )


def test_decode_prints_fields_items_flags_crc_and_edition() -> None:
    result = _hj212("decode", stdin=f"{STANDARD}\r\n{HOURLY}\n".encode())
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["cn"] == "1062"
    assert first["crc"] == "1C80"
    assert first["crc_valid"] is True
    assert first["edition"] == "2017"
    assert first["params"] == {"RtdInterval": "30"}
    assert second["edition"] == "2025"
    assert second["items"][2] == {
        "code": "a01014",
        "fields": {"Min": "3.20", "Avg": "3.211", "Max": "3.212", "Flag": "N"},
    }


def test_decode_then_encode_gives_back_the_same_bytes(tmp_path: Path) -> None:
    packets = tmp_path / "capture.txt"
    packets.write_bytes(f"{STANDARD}\r\n{HOURLY}\r\n".encode())
    decoded = _hj212("decode", str(packets), stdin=b"")
    encoded = _hj212("encode", stdin=decoded.stdout)
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout == packets.read_bytes()


def test_encode_from_items_and_with_the_sm4_key(tmp_path: Path) -> None:
    key_file = tmp_path / "peer.key"
    key_file.write_text(TEST_KEY + "\n")
    request = json.dumps(
        {
            "edition": "2025",
            "qn": "20240520210700000",
            "st": "31",
            "cn": "2051",
            "pw": "123456",
            "mn": "010000A8900016F000169DC0",
            "ack": True,
            "params": {"DataTime": "20240520210600"},
            "items": [
                {
                    "code": "a01011",
                    "fields": {"Min": "1.35", "Avg": "1.35", "Max": "1.35", "Flag": "N"},
                },
                {
                    "code": "a01014",
                    "fields": {"Min": "3.20", "Avg": "3.20", "Max": "3.20", "Flag": "N"},
                },
            ],
        }
    )
    args = ("--key-file", str(key_file), "--cipher-form", "braced")
    result = _hj212("encode", *args, stdin=request.encode())
    assert result.returncode == 0, result.stderr
    assert result.stdout == VECTORS["encrypted"][1]["packet"].encode() + b"\r\n"
    back = _hj212("decode", *args, stdin=result.stdout)
    assert json.loads(back.stdout)["encrypted"] is True


def test_malformed_lines_are_named_and_the_exit_is_non_zero() -> None:
    bad_crc = STANDARD.replace("1C80", "1C81")
    result = _hj212("decode", stdin=f"{STANDARD}\n##0101QN=2016\n{bad_crc}\n".encode())
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 2  # the bad-CRC packet is still shown
    errors = result.stderr.decode().splitlines()
    assert errors == [
        "<stdin>:2: packet is truncated: length field says 101 + 4 CRC digits, 7 characters follow",
        "<stdin>:3: CRC mismatch: packet says 1C81, computed 1C80",
    ]


def test_encode_names_the_bad_key() -> None:
    result = _hj212("encode", stdin=b'{"st": "21", "cn": "2011", "pw": "1"}\n[1]\n')
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        "<stdin>:1: key 'mn' is missing",
        "<stdin>:2: expected a JSON object",
    ]
    assert b"Traceback" not in result.stderr


def test_a_bad_key_file_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "peer.key"
    key_file.write_text("not hex")
    result = _hj212("decode", "--key-file", str(key_file), stdin=b"")
    assert result.returncode == 2
    assert b"an SM4 key is 32 hex digits" in result.stderr
