"""Hypothesis strategies for HJ 212 packets and CP areas."""

from __future__ import annotations

from hypothesis import strategies as st

from wire.hj212 import CipherForm, Cp, DataItem, Edition, Packet, PeerCipher, format_cp

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ";=&,")
_PW_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ";=&,")

keys = st.builds(lambda a, b: a + b, st.sampled_from(_LETTERS), st.text(_ALNUM, max_size=8))
values = st.text(_VALUE_CHARS, max_size=12)
numbers = st.decimals(min_value=-99999, max_value=99999, places=3).map(str)
flags = st.sampled_from("NFMSDCTB")


@st.composite
def data_items(draw: st.DrawFn) -> DataItem:
    code = draw(st.text(_ALNUM, min_size=1, max_size=8))
    suffixes = draw(st.lists(keys, min_size=1, max_size=4, unique=True))
    return DataItem(code, tuple((s, draw(values)) for s in suffixes))


@st.composite
def cps(draw: st.DrawFn, max_items: int = 6) -> Cp:
    names = draw(st.lists(keys, max_size=3, unique=True))
    items = draw(st.lists(data_items(), max_size=max_items, unique_by=lambda i: i.code))
    params = tuple((n, draw(values)) for n in names)
    return Cp(params, tuple(items))


@st.composite
def packets(draw: st.DrawFn, cp_text: st.SearchStrategy[str] | None = None) -> Packet:
    edition = draw(st.sampled_from(Edition))
    cp = draw(cp_text) if cp_text is not None else draw(cps().map(format_cp))
    split = draw(st.booleans())
    pnum = draw(st.integers(1, 9999)) if split else None
    pno = draw(st.integers(1, pnum)) if pnum is not None else None
    return Packet(
        st=draw(st.from_regex(r"[0-9]{2}", fullmatch=True)),
        cn=draw(st.sampled_from(["2011", "2051", "2061", "2031", "9014", "1062", "3020"])),
        pw=draw(st.text(_PW_CHARS, min_size=1, max_size=6)),
        mn=draw(st.text(_ALNUM, min_size=1, max_size=24)),
        cp=cp[:950],
        qn=draw(st.none() | st.from_regex(r"[0-9]{17}", fullmatch=True)),
        edition=edition,
        ack=draw(st.booleans()),
        pnum=pnum,
        pno=pno,
        backfill=edition is Edition.HJ212_2025 and draw(st.booleans()),
    )


ciphers = st.builds(PeerCipher, st.binary(min_size=16, max_size=16), st.sampled_from(CipherForm))
