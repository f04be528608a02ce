"""The notation of section 3 of the spec: [int], [long], [string], [bytes], [value], [inet], ...

`Reader` walks a body with bounds checks: any length that points past the end, or a negative
length where none is allowed, raises a :class:`~greencql.errors.ProtocolError` subclass and
nothing else. `Writer` appends to one bytearray. Both are used by every message codec; the row
decoder of `rows.py` has its own tighter loop for speed.

Also here: the [vint] / [unsigned vint] encodings of v5 (used by `duration` and `vector`),
and the UNSET sentinel (a bind value the server must treat as "not set", v4+).
"""

from __future__ import annotations

import ipaddress
import struct
import uuid
from typing import Final

from greencql.errors import MalformedError, TruncatedError

__all__ = [
    "UNSET",
    "UnsetType",
    "Reader",
    "Writer",
    "encode_unsigned_vint",
    "decode_unsigned_vint",
    "encode_vint",
    "decode_vint",
    "zigzag_encode",
    "zigzag_decode",
]


class UnsetType:
    """The type of :data:`UNSET`: a bind value left unset (protocol v4+), distinct from null.

    A singleton that survives copy and pickle as itself.
    """

    _instance: UnsetType | None = None

    def __new__(cls) -> UnsetType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET_VALUE"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNSET"


UNSET: Final = UnsetType()

_b = struct.Struct(">b")
_B = struct.Struct(">B")
_h = struct.Struct(">h")
_H = struct.Struct(">H")
_i = struct.Struct(">i")
_q = struct.Struct(">q")


class Reader:
    """A cursor over one message body. Every read checks the bounds first."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int, what: str) -> int:
        pos = self.pos
        if n < 0:
            raise MalformedError(f"negative length {n} for {what}")
        if pos + n > self.end:
            raise TruncatedError(
                f"{what} needs {n} bytes at offset {pos}, only {self.end - pos} left"
            )
        self.pos = pos + n
        return pos

    def read_raw(self, n: int, what: str = "bytes") -> bytes:
        pos = self._need(n, what)
        return bytes(self.data[pos : pos + n])

    def read_byte(self) -> int:
        pos = self._need(1, "[byte]")
        return self.data[pos]

    def read_short(self) -> int:
        """[short]: an unsigned 2-byte integer."""
        return _H.unpack_from(self.data, self._need(2, "[short]"))[0]

    def read_int(self) -> int:
        return _i.unpack_from(self.data, self._need(4, "[int]"))[0]

    def read_long(self) -> int:
        return _q.unpack_from(self.data, self._need(8, "[long]"))[0]

    def read_string(self) -> str:
        """[string]: [short] n, then n bytes of UTF-8."""
        n = self.read_short()
        return self._utf8(self.read_raw(n, "[string]"))

    def read_long_string(self) -> str:
        n = self.read_int()
        return self._utf8(self.read_raw(n, "[long string]"))

    @staticmethod
    def _utf8(raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedError(f"invalid UTF-8 in string: {exc}") from exc

    def read_bytes(self) -> bytes | None:
        """[bytes]: [int] n, then n bytes; n < 0 is null."""
        n = self.read_int()
        if n < 0:
            return None
        return self.read_raw(n, "[bytes]")

    def read_value(self) -> bytes | UnsetType | None:
        """[value]: like [bytes], with -2 meaning UNSET (requests only)."""
        n = self.read_int()
        if n >= 0:
            return self.read_raw(n, "[value]")
        if n == -1:
            return None
        if n == -2:
            return UNSET
        raise MalformedError(f"invalid [value] length {n}")

    def read_short_bytes(self) -> bytes:
        n = self.read_short()
        return self.read_raw(n, "[short bytes]")

    def read_string_list(self) -> list[str]:
        return [self.read_string() for _ in range(self.read_short())]

    def read_string_map(self) -> dict[str, str]:
        n = self.read_short()
        out: dict[str, str] = {}
        for _ in range(n):
            key = self.read_string()
            out[key] = self.read_string()
        return out

    def read_string_multimap(self) -> dict[str, list[str]]:
        n = self.read_short()
        out: dict[str, list[str]] = {}
        for _ in range(n):
            key = self.read_string()
            out[key] = self.read_string_list()
        return out

    def read_bytes_map(self) -> dict[str, bytes | None]:
        n = self.read_short()
        out: dict[str, bytes | None] = {}
        for _ in range(n):
            key = self.read_string()
            out[key] = self.read_bytes()
        return out

    def read_inet_address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        """[inetaddr]: one byte of size (4 or 16), then the address."""
        size = self.read_byte()
        if size not in (4, 16):
            raise MalformedError(f"inet address of {size} bytes (expected 4 or 16)")
        return ipaddress.ip_address(self.read_raw(size, "[inetaddr]"))

    def read_inet(self) -> tuple[str, int]:
        """[inet]: an [inetaddr] then an [int] port."""
        address = self.read_inet_address()
        return (str(address), self.read_int())

    def read_uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.read_raw(16, "[uuid]"))

    def read_unsigned_vint(self) -> int:
        value, self.pos = decode_unsigned_vint(self.data, self.pos, self.end)
        return value

    def read_vint(self) -> int:
        return zigzag_decode(self.read_unsigned_vint())

    def expect_end(self, what: str) -> None:
        """Refuse trailing bytes: a body longer than its content is malformed."""
        if self.pos != self.end:
            raise MalformedError(f"{self.end - self.pos} unexpected trailing bytes after {what}")


class Writer:
    """Appends the spec's notations to one bytearray."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self.buf)

    def write_raw(self, data: bytes | bytearray | memoryview) -> None:
        self.buf += data

    def write_byte(self, value: int) -> None:
        self.buf += _B.pack(value)

    def write_short(self, value: int) -> None:
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"[short] out of range (0..65535): {value}")
        self.buf += _H.pack(value)

    def write_int(self, value: int) -> None:
        self.buf += _i.pack(value)

    def write_long(self, value: int) -> None:
        self.buf += _q.pack(value)

    def write_string(self, value: str) -> None:
        raw = value.encode("utf-8")
        if len(raw) > 0xFFFF:
            raise ValueError(f"[string] of {len(raw)} bytes exceeds 65535; use a [long string]")
        self.buf += _H.pack(len(raw))
        self.buf += raw

    def write_long_string(self, value: str) -> None:
        raw = value.encode("utf-8")
        self.buf += _i.pack(len(raw))
        self.buf += raw

    def write_bytes(self, value: bytes | bytearray | memoryview | None) -> None:
        if value is None:
            self.buf += _i.pack(-1)
        else:
            self.buf += _i.pack(len(value))
            self.buf += value

    def write_value(self, value: bytes | bytearray | memoryview | UnsetType | None) -> None:
        if value is UNSET:
            self.buf += _i.pack(-2)
        else:
            self.write_bytes(value)  # type: ignore[arg-type]

    def write_short_bytes(self, value: bytes) -> None:
        if len(value) > 0xFFFF:
            raise ValueError(f"[short bytes] of {len(value)} bytes exceeds 65535")
        self.buf += _H.pack(len(value))
        self.buf += value

    def write_string_list(self, values: list[str] | tuple[str, ...]) -> None:
        self.write_short(len(values))
        for v in values:
            self.write_string(v)

    def write_string_map(self, mapping: dict[str, str]) -> None:
        self.write_short(len(mapping))
        for key, value in mapping.items():
            self.write_string(key)
            self.write_string(value)

    def write_string_multimap(self, mapping: dict[str, list[str]]) -> None:
        self.write_short(len(mapping))
        for key, values in mapping.items():
            self.write_string(key)
            self.write_string_list(values)

    def write_bytes_map(self, mapping: dict[str, bytes | None]) -> None:
        self.write_short(len(mapping))
        for key, value in mapping.items():
            self.write_string(key)
            self.write_bytes(value)

    def write_inet_address(
        self, address: str | ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> None:
        packed = ipaddress.ip_address(address).packed
        self.buf += _B.pack(len(packed))
        self.buf += packed

    def write_inet(self, address: str, port: int) -> None:
        self.write_inet_address(address)
        self.write_int(port)

    def write_uuid(self, value: uuid.UUID) -> None:
        self.buf += value.bytes

    def write_unsigned_vint(self, value: int) -> None:
        self.buf += encode_unsigned_vint(value)

    def write_vint(self, value: int) -> None:
        self.buf += encode_vint(value)


# --------------------------------------------------------------------------------------------
# Variable-length integers (v5 spec, section 3: [vint] / [unsigned vint])
#
# The number of leading 1 bits of the first byte is the number of extra bytes (0..8); the rest
# of the first byte holds the high bits of the value. Signed vints are zigzag-encoded first.
# --------------------------------------------------------------------------------------------

_MAX_U64 = (1 << 64) - 1


def encode_unsigned_vint(value: int) -> bytes:
    """Encode 0 <= value < 2**64 as an [unsigned vint]."""
    if value < 0 or value > _MAX_U64:
        raise ValueError(f"unsigned vint out of range: {value}")
    if value < 0x80:
        return bytes((value,))
    extra = (value.bit_length() - 1) // 7  # 7 payload bits per byte, counting the first
    if extra >= 8:
        return b"\xff" + value.to_bytes(8, "big")
    first = ((0xFF00 >> extra) & 0xFF) | (value >> (8 * extra))
    return bytes((first,)) + (value & ((1 << (8 * extra)) - 1)).to_bytes(extra, "big")


# number of leading one bits of each byte value
_LEADING_ONES = bytes(8 - (((~b) & 0xFF).bit_length()) for b in range(256))


def decode_unsigned_vint(
    data: bytes | bytearray | memoryview, pos: int, end: int
) -> tuple[int, int]:
    """Decode an [unsigned vint] at `pos`; return (value, position after it)."""
    if pos >= end:
        raise TruncatedError(f"[unsigned vint] at offset {pos}: no bytes left")
    first = data[pos]
    extra = _LEADING_ONES[first]
    if pos + 1 + extra > end:
        raise TruncatedError(
            f"[unsigned vint] at offset {pos} needs {extra + 1} bytes, only {end - pos} left"
        )
    value = first & (0xFF >> extra)
    if extra:
        value = (value << (8 * extra)) | int.from_bytes(data[pos + 1 : pos + 1 + extra], "big")
    return value, pos + 1 + extra


def zigzag_encode(value: int) -> int:
    """Map a signed 64-bit integer to an unsigned one (0, -1, 1, -2 -> 0, 1, 2, 3)."""
    return ((value << 1) ^ (value >> 63)) & _MAX_U64


def zigzag_decode(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def encode_vint(value: int) -> bytes:
    """Encode a signed 64-bit integer as a [vint]."""
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError(f"vint out of the signed 64-bit range: {value}")
    return encode_unsigned_vint(zigzag_encode(value))


def decode_vint(data: bytes | bytearray | memoryview, pos: int, end: int) -> tuple[int, int]:
    value, pos = decode_unsigned_vint(data, pos, end)
    return zigzag_decode(value), pos
