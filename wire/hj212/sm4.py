"""SM4 encryption of an HJ 212-2025 data area (§6.4, Appendix A.2 of the standard).

Layer: pure function over bytes; the cipher itself is the ``cryptography``
package's SM4, never hand-written.

What the standard says (as quoted by public implementations that cite its PDF
pages; the ciphertexts of its Appendix A.2 examples are reproduced by our golden
tests, which is the check that matters):

- SM4 with a 16-byte key, ECB mode, "Nopadding";
- over the characters between ``CP=&&`` and the closing ``&&``;
- every full 16-character block is encrypted; a shorter remainder stays plain
  text (that is what "Nopadding" means there: no padding, no stealing);
- the packet and its CRC are built first, over the plain text; then the data
  area is encrypted. A receiver therefore decrypts before checking the CRC.
- mandatory over the Internet for CN 2000-2999, 1014 and 3020.
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wire.errors import Hj212Error

KEY_BYTES = 16
BLOCK = 16
_HEX_BYTE = re.compile(rb"\s*0[xX]([0-9A-Fa-f]{2})\s*")


def encrypts_cn(cn: str) -> bool:
    """Whether HJ 212-2025 encrypts the data area of a packet with this CN."""
    return cn.isdigit() and (2000 <= int(cn) <= 2999 or cn in ("1014", "3020"))


def check_key(key: bytes) -> bytes:
    """Return ``key`` if it is a 16-byte SM4 key, else raise Hj212Error."""
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise Hj212Error(f"an SM4 key is {KEY_BYTES} bytes")
    return key


def encrypt_area(plain: bytes, key: bytes) -> bytes:
    """Encrypt the whole 16-byte blocks of ``plain``; the remainder stays as it is."""
    full = len(plain) - len(plain) % BLOCK
    encryptor = Cipher(algorithms.SM4(check_key(key)), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(plain[:full]) + encryptor.finalize() + plain[full:]


def decrypt_area(cipher: bytes, key: bytes) -> bytes:
    """Reverse :func:`encrypt_area`."""
    full = len(cipher) - len(cipher) % BLOCK
    decryptor = Cipher(algorithms.SM4(check_key(key)), modes.ECB()).decryptor()  # noqa: S305
    return decryptor.update(cipher[:full]) + decryptor.finalize() + cipher[full:]


def braced_hex(data: bytes) -> bytes:
    """The standard's printed notation of ciphertext: ``{0xE4,0x3E,...}``."""
    return b"{" + b",".join(b"0x%02X" % b for b in data) + b"}"


def parse_braced_hex(text: bytes) -> tuple[bytes, bytes]:
    """Split ``{0x..,..}rest`` into the bytes it denotes and the plain remainder."""
    end = text.find(b"}")
    if not text.startswith(b"{") or end < 0:
        raise Hj212Error("encrypted data area is not in {0x..,0x..} form")
    out = bytearray()
    for item in text[1:end].split(b","):
        match = _HEX_BYTE.fullmatch(item)
        if match is None:
            raise Hj212Error(f"encrypted data area: {item[:8]!r} is not 0xNN")
        out.append(int(match.group(1), 16))
    return bytes(out), text[end + 1 :]
