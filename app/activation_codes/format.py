"""The activation code format: typable, self-checking, verifiable without a database.

    XXXXX-XXXXX-XXXXX-XXXXX-XXXXX   25 symbols of ABCDEFGHJKLMNPQRSTUVWXYZ23456789 (5 bits each)

The first 24 symbols carry 120 bits: format version (4), batch number (16), random serial (60)
and a MAC (40: HMAC-SHA256 under the batch's key, truncated). The last symbol is a Luhn mod 32
check symbol, which catches every single-symbol typo and every adjacent swap but one (A and 9,
the algorithm's blind spot; the MAC catches that). Batch keys are derived from a master key and
the batch number, so a reseller given one batch's key can mint that batch's codes and no others.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
N = len(ALPHABET)
VERSION = 1
VERSION_BITS, BATCH_BITS, SERIAL_BITS, MAC_BITS = 4, 16, 60, 40
DATA_SYMBOLS = (VERSION_BITS + BATCH_BITS + SERIAL_BITS + MAC_BITS) // 5  # 24
LENGTH = DATA_SYMBOLS + 1
GROUP = 5
MAX_BATCH = 2**BATCH_BITS - 1
# Look-alikes the alphabet leaves out; typed anyway, they get a hint rather than "invalid".
AMBIGUOUS = {"0": "zero", "1": "one", "O": "the letter O", "I": "the letter I"}


class MalformedCode(ValueError):
    """Not a code at all: wrong length, characters or check symbol (a typo)."""


class ForgedCode(ValueError):
    """Well-formed, but not made with this batch's key (or of an unknown version)."""


@dataclass(frozen=True)
class ParsedCode:
    code: str  # normalized: 25 symbols, no separators
    version: int
    batch: int
    serial: int

    @property
    def display(self) -> str:
        return display(self.code)


def derive_batch_key(master_key: bytes, batch: int) -> bytes:
    return hmac.new(master_key, f"gatehouse/activation-code-batch/{batch}".encode(),
                    hashlib.sha256).digest()


def _mac(batch_key: bytes, version: int, batch: int, serial: int) -> int:
    message = f"{version}:{batch}:{serial}".encode()
    digest = hmac.new(batch_key, message, hashlib.sha256).digest()
    return int.from_bytes(digest[: MAC_BITS // 8], "big")


def check_symbol(data: str) -> str:
    """Luhn mod N over `data` (the symbols before the check symbol)."""
    total, factor = 0, 2
    for symbol in reversed(data):
        addend = factor * VALUE[symbol]
        total += addend // N + addend % N
        factor = 3 - factor
    return ALPHABET[(N - total % N) % N]


def _encode(number: int, symbols: int) -> str:
    out = []
    for _ in range(symbols):
        out.append(ALPHABET[number & 31])
        number >>= 5
    return "".join(reversed(out))


def _decode(text: str) -> int:
    number = 0
    for symbol in text:
        number = (number << 5) | VALUE[symbol]
    return number


def mint(batch_key: bytes, batch: int, serial: int | None = None) -> str:
    """A new code of `batch` (normalized form; `display` adds the hyphens)."""
    if not 0 < batch <= MAX_BATCH:
        raise ValueError(f"batch number must be 1..{MAX_BATCH}")
    serial = secrets.randbits(SERIAL_BITS) if serial is None else serial
    mac = _mac(batch_key, VERSION, batch, serial)
    bits = (((VERSION << BATCH_BITS | batch) << SERIAL_BITS | serial) << MAC_BITS) | mac
    data = _encode(bits, DATA_SYMBOLS)
    return data + check_symbol(data)


def display(code: str) -> str:
    return "-".join(code[i:i + GROUP] for i in range(0, len(code), GROUP))


def normalize(text: str) -> str:
    """Upper-case, without spaces and hyphens; MalformedCode (with a hint) otherwise."""
    code = "".join(ch for ch in text.upper() if ch not in " -\t\r\n")
    for ch in code:
        if ch in AMBIGUOUS:
            raise MalformedCode(f"codes never contain {AMBIGUOUS[ch]} ({ch}): "
                                "check that character")
        if ch not in VALUE:
            raise MalformedCode(f"{ch!r} cannot appear in a code")
    if len(code) != LENGTH:
        raise MalformedCode(f"a code has {LENGTH} characters; this has {len(code)}")
    if check_symbol(code[:-1]) != code[-1]:
        raise MalformedCode("the code has a typo: check it against the original")
    return code


def parse(text: str) -> ParsedCode:
    """Normalize and split into fields; says nothing yet about genuineness."""
    code = normalize(text)
    bits = _decode(code[:-1])
    bits >>= MAC_BITS
    serial = bits & (2**SERIAL_BITS - 1)
    bits >>= SERIAL_BITS
    batch = bits & MAX_BATCH
    version = bits >> BATCH_BITS
    return ParsedCode(code, version, batch, serial)


def verify(parsed: ParsedCode, batch_key: bytes) -> None:
    """ForgedCode unless the MAC is this batch key's."""
    if parsed.version != VERSION or parsed.batch == 0:
        raise ForgedCode("unknown code format")
    mac = _decode(parsed.code[:-1]) & (2**MAC_BITS - 1)
    expected = _mac(batch_key, parsed.version, parsed.batch, parsed.serial)
    if not hmac.compare_digest(mac.to_bytes(5, "big"), expected.to_bytes(5, "big")):
        raise ForgedCode("not a genuine code")
