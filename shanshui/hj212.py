"""``shanshui hj212 decode|encode``: HJ 212 packets to JSON and back, for debugging a logger.

Layer: command line only; the codec is ``wire.hj212``. Reads one packet (or one
JSON object) per line from a file or stdin, writes one result per line to
stdout, reports each bad line on stderr as ``<source>:<line>: <message>`` and
exits 1 if any line was bad (a packet with a wrong CRC is still printed, with
``"crc_valid": false``).

The SM4 key of an HJ 212-2025 peer comes from ``--key-file`` (32 hex digits)
or ``SHANSHUI_HJ212_KEY`` (hex), never from the command line, where every user
of the machine could read it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer

from wire.errors import Hj212Error
from wire.hj212 import (
    CipherForm,
    Cp,
    DataItem,
    Edition,
    Frame,
    Packet,
    PeerCipher,
    encode_packet,
    format_cp,
    parse_cp,
    parse_packet,
)

app = typer.Typer(help="Decode and encode HJ 212 (2017/2025) packets.", no_args_is_help=True)

FileArg = Annotated[
    Path | None, typer.Argument(help="File with one item per line; stdin when omitted.")
]
KeyFile = Annotated[
    Path | None,
    typer.Option(help="File holding the peer's SM4 key (32 hex digits); or SHANSHUI_HJ212_KEY."),
]
Form = Annotated[
    CipherForm, typer.Option(help="How the peer writes ciphertext: raw bytes or {0x..} text.")
]


@app.command()
def decode(
    file: FileArg = None, key_file: KeyFile = None, cipher_form: Form = CipherForm.RAW
) -> None:
    """Print each packet as JSON: fields, data items with their flags, CRC verdict, edition."""
    cipher = _cipher(key_file, cipher_form)
    bad = 0
    for where, line in _lines(file):
        data = line if line.endswith(b"\r\n") else _terminated(line)
        try:
            frame = parse_packet(data, cipher)
        except Hj212Error as exc:
            bad += _complain(where, exc.message)
            continue
        out = packet_json(frame)
        typer.echo(json.dumps(out, ensure_ascii=False))
        if not frame.crc_valid:
            bad += _complain(
                where,
                f"CRC mismatch: packet says {frame.crc_declared}, computed {frame.crc_computed}",
            )
        elif "cp_error" in out:
            bad += _complain(where, f"CP: {out['cp_error']}")
    if bad:
        raise typer.Exit(1)


@app.command()
def encode(
    file: FileArg = None, key_file: KeyFile = None, cipher_form: Form = CipherForm.RAW
) -> None:
    """Write a packet for each JSON object (as ``decode`` prints them)."""
    cipher = _cipher(key_file, cipher_form)
    bad = 0
    for where, line in _lines(file):
        try:
            data = encode_packet(packet_from_json(line), cipher)
        except Hj212Error as exc:
            bad += _complain(where, exc.message)
            continue
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    if bad:
        raise typer.Exit(1)


def packet_json(frame: Frame) -> dict[str, Any]:
    """The JSON object ``decode`` prints for one parsed frame."""
    packet = frame.packet
    out: dict[str, Any] = {
        "edition": packet.edition.value,
        "qn": packet.qn,
        "st": packet.st,
        "cn": packet.cn,
        "pw": packet.pw,
        "mn": packet.mn,
        "flag": packet.flag,
        "ack": packet.ack,
        "pnum": packet.pnum,
        "pno": packet.pno,
        "backfill": packet.backfill,
        "cp": packet.cp,
        "crc": frame.crc_declared,
        "crc_computed": frame.crc_computed,
        "crc_valid": frame.crc_valid,
        "encrypted": frame.encrypted,
    }
    try:
        cp = parse_cp(packet.cp)
    except Hj212Error as exc:
        out["cp_error"] = exc.message
        return out
    out["params"] = dict(cp.params)
    out["items"] = [{"code": i.code, "fields": dict(i.fields)} for i in cp.items]
    return out


def packet_from_json(line: bytes) -> Packet:
    """Build a packet from one JSON object; ``cp`` text wins over ``params``/``items``.

    Raises:
        Hj212Error: not JSON, a missing or mistyped key, or an invalid field.
    """
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise Hj212Error(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise Hj212Error("expected a JSON object")
    for key in ("st", "cn", "pw", "mn"):
        if key not in obj:
            raise Hj212Error(f"key {key!r} is missing")
    try:
        edition = Edition(str(obj.get("edition", "2017")))
    except ValueError:
        raise Hj212Error(f"edition must be 2017 or 2025, got {obj.get('edition')!r}") from None
    cp = obj["cp"] if "cp" in obj else _cp_text(obj)
    return Packet(
        st=obj["st"],
        cn=obj["cn"],
        pw=obj["pw"],
        mn=obj["mn"],
        cp=cp,
        qn=obj.get("qn"),
        edition=edition,
        ack=_flag(obj, "ack"),
        pnum=obj.get("pnum"),
        pno=obj.get("pno"),
        backfill=_flag(obj, "backfill"),
    )


def _cp_text(obj: dict[str, Any]) -> str:
    params, items = obj.get("params") or {}, obj.get("items") or []
    if not isinstance(params, dict) or not isinstance(items, list):
        raise Hj212Error("'params' must be an object and 'items' a list")
    built = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("fields"), dict):
            raise Hj212Error(f"items[{index}] must be {{'code': ..., 'fields': {{...}}}}")
        built.append(DataItem(item.get("code", ""), tuple(item["fields"].items())))
    return format_cp(Cp(tuple(params.items()), tuple(built)))


def _flag(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise Hj212Error(f"key {key!r} must be true or false")
    return value


def _cipher(key_file: Path | None, form: CipherForm) -> PeerCipher | None:
    try:
        text = key_file.read_text().strip() if key_file else os.environ.get("SHANSHUI_HJ212_KEY")
    except OSError as exc:
        typer.echo(f"{key_file}: cannot read the key: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    if not text:
        return None
    try:
        return PeerCipher(bytes.fromhex(text), form)
    except (ValueError, Hj212Error):
        where = key_file or "SHANSHUI_HJ212_KEY"
        typer.echo(f"{where}: an SM4 key is 32 hex digits", err=True)
        raise typer.Exit(2) from None


def _lines(file: Path | None) -> Iterator[tuple[str, bytes]]:
    name = str(file) if file else "<stdin>"
    try:
        stream: BinaryIO = file.open("rb") if file else sys.stdin.buffer
    except OSError as exc:
        typer.echo(f"{file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    with stream:
        for number, raw in enumerate(stream, start=1):
            line = raw if raw.endswith(b"\r\n") else raw.rstrip(b"\n")
            if line.strip():
                yield f"{name}:{number}", line


def _terminated(line: bytes) -> bytes:
    """A line of a text file, or an example printed with a literal \\r\\n, made a frame."""
    return line.removesuffix(b"\\r\\n") + b"\r\n"


def _complain(where: str, message: str) -> int:
    typer.echo(f"{where}: {message}", err=True)
    return 1
