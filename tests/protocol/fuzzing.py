"""The protocol fuzzer: valid inputs built from the message and type codecs, then mutated.

Owns the corpus (every response and request message of v3-v5, rows of every CQL type nested
in collections, plain and LZ4/snappy-compressed frame streams, v5 segment streams with and
without LZ4), the mutators (structure-aware: rewrite a length or count field with an
interesting value; byte-level: flips, sets, cuts, inserts, splices), the targets (the
client's decoders, the server side the simulator runs, both handshake state machines) and
the rule every target is held to: a mutated input returns a value or raises a
:class:`~greencql.errors.ProtocolError` subclass (the handshakes: a DriverException), never
anything else, never hangs, and never allocates much more than the bytes it was given.

Used by ``tests/protocol/test_fuzz_*.py`` (a short, seeded run in the hub-free process) and
by ``bench/fuzz.py`` (the long run). Hub-free: bytes only, no socket, no clock but the
caller's.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import random
import struct
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from greencql.errors import DriverException, ProtocolError
from greencql.protocol import types as T
from greencql.protocol.auth import PlainTextAuthenticator
from greencql.protocol.compression import available_compressors
from greencql.protocol.constants import BatchType, ConsistencyLevel, WriteType
from greencql.protocol.frames import FrameCodec
from greencql.protocol.handshake import ClientHandshake, ServerHandshake
from greencql.protocol.messages import (
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Batch,
    BatchChild,
    ErrorResponse,
    Execute,
    Options,
    Prepare,
    PreparedResult,
    Query,
    QueryParameters,
    Ready,
    Register,
    RowsResult,
    SchemaChangeEvent,
    SchemaChangeResult,
    SetKeyspaceResult,
    Startup,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
    VoidResult,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    request_flags,
)
from greencql.protocol.rows import ColumnSpec, PreparedMetadata, ResultMetadata
from greencql.protocol.wire import UNSET

__all__ = ["Case", "Fuzzer", "Failure", "build_corpus", "mutate", "TARGETS"]

VERSIONS = (3, 4, 5)
#: what a decoder may allocate beyond the bytes it was given (the memory rule)
ALLOC_SLACK = 256 * 1024
#: ... and per byte given (a decoded Python object is bigger than its bytes: an int of 4 wire
#: bytes is a 28-byte object plus its list slot, a one-byte boolean a pointer)
ALLOC_PER_BYTE = 64

# -- sample values of every native type ---------------------------------------------------

_SAMPLES: dict[str, list[Any]] = {
    "ascii": ["", "a", "x'y\"z\\", "A" * 300],
    "bigint": [0, -1, 2**63 - 1, -(2**63)],
    "blob": [b"", b"\x00", b"\xff" * 40],
    "boolean": [True, False],
    "counter": [0, 7, -(2**63)],
    "decimal": [decimal.Decimal("0"), decimal.Decimal("-1.5E-30"), decimal.Decimal("12345.678")],
    "double": [0.0, -1.5, float("inf"), 1e308],
    "float": [0.0, 1.5, float("-inf")],
    "int": [0, -1, 2**31 - 1, -(2**31)],
    "timestamp": [datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
                  datetime.datetime(1960, 1, 1, tzinfo=datetime.timezone.utc)],
    "uuid": [uuid.UUID(int=0), uuid.UUID("12345678-1234-4234-8234-123456789abc")],
    "text": ["", "h\u00e9llo", "\u4e2d\u6587'\x00", "z" * 500],
    "varint": [0, -1, 2**100, -(2**70)],
    "timeuuid": [uuid.UUID("d2177dd0-eaa2-11de-a572-001b779c76e3")],
    "inet": [ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("::1")],
    "date": [datetime.date(2020, 2, 29), datetime.date(1, 1, 1)],
    "time": [datetime.time(0, 0), datetime.time(23, 59, 59, 999999)],
    "smallint": [0, -(2**15), 2**15 - 1],
    "tinyint": [0, -128, 127],
    "duration": [T.Duration(1, 2, 3), T.Duration(-1, -2, -3)],
}


def _sample(rng: random.Random, t: T.CqlType, depth: int = 0) -> Any:
    kind = t.kind
    if kind in _SAMPLES:
        return rng.choice(_SAMPLES[kind])
    n = rng.randint(0, 3) if depth < 2 else 0
    if kind == "list":
        return [_sample(rng, t.subtypes[0], depth + 1) for _ in range(n)]
    if kind == "set":
        out = []
        for _ in range(n):
            v = _sample(rng, t.subtypes[0], depth + 1)
            try:
                if v not in out:
                    out.append(v)
            except TypeError:
                pass
        try:
            return set(out)
        except TypeError:
            return out[:1]
    if kind == "map":
        out_map: dict[Any, Any] = {}
        for _ in range(n):
            k = _sample(rng, t.subtypes[0], depth + 1)
            try:
                out_map[k] = _sample(rng, t.subtypes[1], depth + 1)
            except TypeError:
                pass
        return out_map
    if kind == "tuple":
        return tuple(_sample(rng, s, depth + 1) for s in t.subtypes)
    if kind == "udt":
        return {name: _sample(rng, s, depth + 1) for name, s in zip(t.field_names, t.subtypes,
                                                                     strict=True)}
    if kind == "vector":
        return [_sample(rng, t.subtypes[0], depth + 1) for _ in range(t.dimension)]
    return b"\x00"  # custom


_HASHABLE_NATIVES = [n for n in _SAMPLES if n not in ("counter",)]


def random_type(rng: random.Random, depth: int = 0) -> T.CqlType:
    """A random CQL type: a native one, or a collection, tuple, UDT or vector of them."""
    natives = T.NATIVE_TYPES
    if depth >= 2 or rng.random() < 0.5:
        return natives[rng.choice(_HASHABLE_NATIVES)]
    kind = rng.choice(("list", "set", "map", "tuple", "udt", "vector"))
    sub = random_type(rng, depth + 1)
    if kind == "list":
        return T.ListType(sub)
    if kind == "set":
        return T.SetType(natives[rng.choice(_HASHABLE_NATIVES)])
    if kind == "map":
        return T.MapType(natives[rng.choice(_HASHABLE_NATIVES)], sub)
    if kind == "tuple":
        return T.TupleType([sub, random_type(rng, depth + 1)])
    if kind == "udt":
        return T.UserType("ks", f"u{rng.randint(0, 9999)}", ["a", "b"],
                          [sub, random_type(rng, depth + 1)])
    return T.VectorType(natives[rng.choice(("int", "float", "double", "bigint", "text"))],
                        rng.randint(1, 4))


# -- the corpus -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One valid input of a target: its bytes plus what the target needs to decode them."""

    target: str
    data: bytes
    version: int = 4
    opcode: int = 0
    flags: int = 0
    aux: Any = None


def _cols(rng: random.Random, n: int) -> tuple[ColumnSpec, ...]:
    return tuple(ColumnSpec("ks", "t", f"c{i}", random_type(rng)) for i in range(n))


def _rows_result(rng: random.Random, version: int) -> tuple[RowsResult, ResultMetadata]:
    cols = _cols(rng, rng.randint(1, 4))
    rows = [tuple(_sample(rng, c.type) if rng.random() > 0.1 else None for c in cols)
            for _ in range(rng.randint(0, 4))]
    paging = b"page" if rng.random() < 0.3 else None
    mid = b"mdid" if version >= 5 and rng.random() < 0.3 else None
    full = ResultMetadata.of(cols, paging_state=paging, result_metadata_id=mid)
    if rng.random() < 0.3:  # NO_METADATA: the decoder is given the columns
        return RowsResult(ResultMetadata.of(None, paging_state=paging, column_count=len(cols)),
                          rows, cols), full
    return RowsResult(full, rows), full


def _responses(rng: random.Random, version: int) -> list[Any]:
    v5 = version >= 5
    prefix = {"warnings": ("w",), "custom_payload": {"a": b"b"}} if version >= 4 else {}
    cols = _cols(rng, 2)
    return [
        ErrorResponse(0x1000, "m", {"consistency": 1, "required_replicas": 2,
                                    "alive_replicas": 1}),
        ErrorResponse(0x1100, "m", {"consistency": 8, "received_responses": 0,
                                    "required_responses": 1, "write_type": WriteType.CAS,
                                    "contentions": 2 if v5 else None}),
        ErrorResponse(0x1200, "m", {"consistency": 4, "received_responses": 1,
                                    "required_responses": 2, "data_retrieved": False}),
        ErrorResponse(0x1300, "m", {"consistency": 1, "received_responses": 0,
                                    "required_responses": 1, "failures": 1,
                                    "error_code_map": {"10.0.0.1": 0} if v5 else None,
                                    "data_retrieved": True}),
        ErrorResponse(0x1500, "m", {"consistency": 1, "received_responses": 0,
                                    "required_responses": 1, "failures": 2,
                                    "error_code_map": {"::1": 1} if v5 else None,
                                    "write_type": WriteType.BATCH}),
        ErrorResponse(0x1400, "m", {"keyspace": "k", "function": "f", "arg_types": ("int",)}),
        ErrorResponse(0x2400, "m", {"keyspace": "k", "table": "t"}),
        ErrorResponse(0x2500, "m", {"statement_id": b"id"}),
        ErrorResponse(0x1001, "overloaded", {}),
        ErrorResponse(0x000A, "protocol", {}),
        Ready(**prefix),
        Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"),
        Supported({"COMPRESSION": ["lz4", "snappy"], "CQL_VERSION": ["3.4.7"],
                   "PROTOCOL_VERSIONS": ["3/v3", "4/v4", "5/v5"]}),
        VoidResult(),
        _rows_result(rng, version)[0],
        _rows_result(rng, version)[0],
        SetKeyspaceResult("ks"),
        PreparedResult(b"id", b"md" if v5 else None,
                       PreparedMetadata.of(cols, (0,) if version >= 4 else ()),
                       ResultMetadata.of(cols)),
        SchemaChangeResult("CREATED", "FUNCTION", "ks", "f", ("int",)),
        SchemaChangeResult("UPDATED", "TABLE", "ks", "t"),
        SchemaChangeResult("DROPPED", "KEYSPACE", "ks"),
        TopologyChangeEvent("NEW_NODE", ("10.0.0.1", 9042)),
        StatusChangeEvent("UP", ("::1", 9042)),
        SchemaChangeEvent("UPDATED", "TYPE", "ks", "u"),
        AuthChallenge(b"c"),
        AuthSuccess(None),
        AuthSuccess(b"tok"),
    ]


def _requests(version: int) -> list[Any]:
    unset = (UNSET,) if version >= 4 else ()
    v5 = version >= 5
    payload = {"p": b"x"} if version >= 4 else None
    return [
        Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"}),
        AuthResponse(b"\x00user\x00pass"),
        Options(),
        Register(("STATUS_CHANGE", "SCHEMA_CHANGE", "TOPOLOGY_CHANGE")),
        Query("SELECT * FROM t WHERE k = ?", QueryParameters(
            ConsistencyLevel.QUORUM, (b"\x00\x00\x00\x01", None, *unset), skip_metadata=True,
            page_size=10, paging_state=b"ps", serial_consistency=ConsistencyLevel.SERIAL,
            timestamp=99, keyspace="ks" if v5 else None, now_in_seconds=5 if v5 else None),
            custom_payload=payload),
        Query("INSERT INTO t (k, v) VALUES (:a, :b)",
              QueryParameters(ConsistencyLevel.ONE, {"a": b"1", "b": None})),
        Prepare("SELECT 1", "ks" if v5 else None),
        Execute(b"id", QueryParameters(ConsistencyLevel.ONE, (b"",)), b"md" if v5 else None),
        Batch(BatchType.COUNTER,
              (BatchChild("query", "UPDATE c SET n = n + 1", (b"1",)),
               BatchChild("prepared", b"id", ())),
              ConsistencyLevel.ALL, ConsistencyLevel.LOCAL_SERIAL, 1,
              "ks" if v5 else None, 3 if v5 else None),
    ]


def _stream_codecs(version: int, compression: str | None, role_out: str) -> tuple[FrameCodec,
                                                                                   Callable]:
    """An encoding codec for ``role_out`` and a factory of matching decoding codecs."""
    comp = available_compressors().get(compression) if compression else None
    role_in = "client" if role_out == "server" else "server"

    def make(role: str) -> FrameCodec:
        codec = FrameCodec(role, version, negotiating=False)
        if version >= 5:
            codec.start_segments(comp)
        elif comp is not None:
            codec.compressor = comp
        return codec

    return make(role_out), lambda: make(role_in)


def build_corpus(seed: int = 0) -> list[Case]:
    """Every valid input the mutators start from (deterministic for a seed)."""
    rng = random.Random(seed)
    out: list[Case] = []
    stream_configs = [(3, None), (4, None), (5, None)]
    comps = available_compressors()
    for name in ("lz4", "snappy"):
        if name in comps:
            stream_configs.append((4, name))
    if "lz4" in comps:
        stream_configs.append((5, "lz4"))
    for version in VERSIONS:
        for msg in _responses(rng, version):
            flags, body = encode_response(msg, version)
            aux = msg.columns if isinstance(msg, RowsResult) else None
            meta = ResultMetadata.of(aux) if aux is not None else None
            out.append(Case("response", body, version, msg.opcode, flags, meta))
        for msg in _requests(version):
            out.append(Case("request", encode_request(msg, version), version, msg.opcode,
                            request_flags(msg)))
    for _ in range(40):  # rows of random types, the largest part of what a client decodes
        version = rng.choice(VERSIONS)
        msg, full = _rows_result(rng, version)
        flags, body = encode_response(msg, version)
        out.append(Case("response", body, version, msg.opcode, flags,
                        full if msg.columns is not None else None))
    for _ in range(60):  # one value of a random type
        t = random_type(rng)
        out.append(Case("value", t.encode(_sample(rng, t)), aux=t))
    for version, comp in stream_configs:
        enc, _ = _stream_codecs(version, comp, "server")
        msgs = [m for m in _responses(rng, version)
                if not (isinstance(m, RowsResult) and m.metadata.columns is None)]
        items = []
        for i, msg in enumerate(rng.sample(msgs, 6)):
            flags, body = encode_response(msg, version)
            items.append((i + 1, msg.opcode, body, flags))
        out.append(Case("client_stream", enc.encode_many(items), version, aux=comp))
        enc, _ = _stream_codecs(version, comp, "client")
        reqs = _requests(version)
        items = [(i, m.opcode, encode_request(m, version), request_flags(m))
                 for i, m in enumerate(reqs)]
        out.append(Case("server_stream", enc.encode_many(items), version, aux=comp))
    for version in VERSIONS:  # handshakes: a sequence of (opcode, flags, body)
        for msgs in ([Supported({"COMPRESSION": ["lz4"]}), Ready()],
                     [Supported({}), Authenticate("PasswordAuthenticator"), AuthSuccess(None)]):
            out.append(Case("client_handshake", _pack_messages(
                [(m.opcode, *encode_response(m, version)) for m in msgs]), version))
        reqs = [Options(), Startup({"CQL_VERSION": "3.0.0"}), AuthResponse(b"\x00u\x00p")]
        out.append(Case("server_handshake", _pack_messages(
            [(m.opcode, request_flags(m), encode_request(m, version)) for m in reqs]), version))
    return out


def _pack_messages(items: Sequence[tuple[int, int, bytes]]) -> bytes:
    return b"".join(struct.pack(">BBi", op, fl, len(b)) + b for op, fl, b in items)


def _unpack_messages(data: bytes) -> list[tuple[int, int, bytes]]:
    """The inverse of _pack_messages, tolerant: a mutated length takes what is left."""
    out = []
    pos = 0
    while pos + 6 <= len(data) and len(out) < 16:
        op, fl, n = struct.unpack_from(">BBi", data, pos)
        pos += 6
        n = max(0, min(n, len(data) - pos))
        out.append((op, fl, data[pos:pos + n]))
        pos += n
    return out


# -- mutators -------------------------------------------------------------------------------

_INTERESTING_32 = (0, 1, -1, -2, 0x7FFFFFFF, -0x80000000, 0x10000, 0xFFFF, 0x7FFF)
_INTERESTING_16 = (0, 1, 0xFFFF, 0x7FFF, 0x8000, 0xFF)
_INTERESTING_8 = (0, 1, 0x7F, 0x80, 0xFF)


def mutate(rng: random.Random, data: bytes, corpus: Sequence[Case] = ()) -> bytes:
    """One to four mutations of ``data``: structure-aware (a 2- or 4-byte field set to an
    interesting value, near its current value, or to the size of the rest) or byte-level."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        op = rng.randrange(11)
        n = len(buf)
        if op == 0 and n:  # flip a bit
            i = rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # an interesting byte
            buf[rng.randrange(n)] = rng.choice(_INTERESTING_8)
        elif op == 2 and n >= 4:  # a length/count field: interesting int32
            i = rng.randrange(n - 3)
            struct.pack_into(">i", buf, i, rng.choice(_INTERESTING_32))
        elif op == 3 and n >= 2:  # short length: interesting uint16
            i = rng.randrange(n - 1)
            struct.pack_into(">H", buf, i, rng.choice(_INTERESTING_16))
        elif op == 4 and n >= 4:  # int32 nudged (off-by-one lengths)
            i = rng.randrange(n - 3)
            v = struct.unpack_from(">i", buf, i)[0] + rng.choice((-2, -1, 1, 2, 100))
            struct.pack_into(">i", buf, i, max(-(2**31), min(2**31 - 1, v)))
        elif op == 5 and n >= 4:  # int32 set to the bytes that follow (+/- a bit)
            i = rng.randrange(n - 3)
            v = n - i - 4 + rng.choice((-1, 0, 0, 1))
            struct.pack_into(">i", buf, i, v)
        elif op == 6 and n:  # truncate
            del buf[rng.randrange(n):]
        elif op == 7:  # insert random bytes
            i = rng.randint(0, n)
            buf[i:i] = rng.randbytes(rng.randint(1, 16))
        elif op == 8 and n > 1:  # delete a chunk
            i = rng.randrange(n)
            del buf[i:i + rng.randint(1, 16)]
        elif op == 9 and n > 1:  # duplicate a chunk
            i = rng.randrange(n)
            j = rng.randint(i, min(n, i + 32))
            k = rng.randint(0, n)
            buf[k:k] = buf[i:j]
        elif op == 10 and corpus:  # splice with another input of the corpus
            other = rng.choice(corpus).data
            if other:
                i = rng.randint(0, n)
                j = rng.randrange(len(other))
                buf[i:] = other[j:j + rng.randint(1, 64)] + buf[i:]
    return bytes(buf)


# -- targets --------------------------------------------------------------------------------


def _chunks(rng: random.Random, data: bytes) -> list[bytes]:
    if rng.random() < 0.5:
        return [data]
    out = []
    pos = 0
    while pos < len(data):
        n = rng.randint(1, 64)
        out.append(data[pos:pos + n])
        pos += n
    return out


def _run_response(case: Case, data: bytes, rng: random.Random) -> None:
    flags = case.flags if rng.random() < 0.9 else rng.randrange(0x20)
    decode_response(case.opcode, flags, data, case.version, case.aux)


def _run_request(case: Case, data: bytes, rng: random.Random) -> None:
    flags = case.flags if rng.random() < 0.9 else rng.randrange(0x20)
    decode_request(case.opcode, data, case.version, flags)


def _run_value(case: Case, data: bytes, rng: random.Random) -> None:
    case.aux.decode(data)


def _run_stream(case: Case, data: bytes, rng: random.Random, client: bool) -> None:
    _, make = _stream_codecs(case.version, case.aux, "server" if client else "client")
    codec = make()
    for chunk in _chunks(rng, data):
        for frame in codec.feed(chunk):
            if client:
                decode_response(frame.opcode, frame.flags, frame.body, frame.version)
            else:
                decode_request(frame.opcode, frame.body, frame.version, frame.flags)


def _run_client_handshake(case: Case, data: bytes, rng: random.Random) -> None:
    hs = ClientHandshake(case.version, compression=("lz4",),
                         authenticator=PlainTextAuthenticator("u", "p"))
    hs.start()
    for op, fl, body in _unpack_messages(data):
        msg = decode_response(op, fl, body, case.version)
        hs.receive(msg, case.version)
        if hs.done:
            break


def _run_server_handshake(case: Case, data: bytes, rng: random.Random) -> None:
    hs = ServerHandshake(case.version, credentials={"u": "p"})
    for op, fl, body in _unpack_messages(data):
        hs.receive(decode_request(op, body, case.version, fl))


#: target name -> (runner, the exception family it may raise)
TARGETS: dict[str, tuple[Callable[[Case, bytes, random.Random], None], type[BaseException]]] = {
    "response": (_run_response, ProtocolError),
    "request": (_run_request, ProtocolError),
    "value": (_run_value, ProtocolError),
    "client_stream": (lambda c, d, r: _run_stream(c, d, r, True), ProtocolError),
    "server_stream": (lambda c, d, r: _run_stream(c, d, r, False), ProtocolError),
    # a handshake may also end with the server's typed error (AuthenticationFailed, ...)
    "client_handshake": (_run_client_handshake, DriverException),
    "server_handshake": (_run_server_handshake, DriverException),
}


@dataclass
class Failure:
    """An input that broke the rule: what came out, and the input to replay it."""

    target: str
    version: int
    opcode: int
    error: str
    data: bytes

    def __str__(self) -> str:
        return (f"{self.target} v{self.version} opcode={self.opcode:#04x}: {self.error} "
                f"(input {self.data[:200].hex()}{'...' if len(self.data) > 200 else ''})")


#: how often each target is picked (streams and rows are where the bytes of a busy client go)
TARGET_WEIGHTS = {"response": 5, "request": 2, "value": 3, "client_stream": 4,
                  "server_stream": 3, "client_handshake": 1, "server_handshake": 1}


class Fuzzer:
    """Runs mutated corpus inputs through their targets and collects what broke the rule.

    ``memory_every``: one input in that many runs under tracemalloc, and fails if it
    allocated more than ``ALLOC_SLACK + ALLOC_PER_BYTE * len(input)`` at its peak (0: never).
    ``slow_after``: an input taking more than this many seconds of CPU fails as a hang (CPU
    time, not wall time: a long run at ``nice 19`` on a busy machine waits for the CPU; the
    long run also interrupts an input that never ends with a timer signal, see bench/fuzz.py).
    """

    def __init__(self, seed: int = 0, corpus: Sequence[Case] | None = None, *,
                 memory_every: int = 0, slow_after: float = 1.0) -> None:
        self.rng = random.Random(seed)
        self.corpus = list(corpus if corpus is not None else build_corpus(seed))
        self._by_target = {name: [c for c in self.corpus if c.target == name]
                           for name in TARGETS}
        self._targets = [t for t in TARGETS if self._by_target[t]]
        self._weights = [TARGET_WEIGHTS[t] for t in self._targets]
        self.memory_every = memory_every
        self.slow_after = slow_after
        self.count = 0
        self.by_target: dict[str, int] = {name: 0 for name in TARGETS}
        self.rejected = 0  # inputs that raised the allowed error (the usual outcome)
        self.measured = 0  # inputs run under tracemalloc
        self.max_alloc_ratio = 0.0  # the largest peak / (slack + per-byte bound) seen
        self.slowest = 0.0
        self.failures: list[Failure] = []
        #: the input being run (for a caller that interrupts a hang)
        self.current: tuple[Case, bytes] | None = None

    def one(self) -> tuple[Case, bytes]:
        rng = self.rng
        target = rng.choices(self._targets, self._weights)[0]
        case = rng.choice(self._by_target[target])
        data = mutate(rng, case.data, self.corpus) if rng.random() < 0.97 else case.data
        self.current = (case, data)
        self.check(case, data)
        return case, data

    def check(self, case: Case, data: bytes) -> None:
        runner, allowed = TARGETS[case.target]
        self.count += 1
        self.by_target[case.target] += 1
        measure = self.memory_every and self.count % self.memory_every == 0
        if measure:
            tracemalloc.start()
        t0 = time.process_time()
        try:
            runner(case, data, self.rng)
        except allowed:
            self.rejected += 1
        except Exception as exc:  # the rule under test: nothing else may come out
            self._fail(case, data, f"{type(exc).__name__}: {exc}")
        finally:
            elapsed = time.process_time() - t0
            if measure:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                self.measured += 1
                bound = ALLOC_SLACK + ALLOC_PER_BYTE * len(data)
                self.max_alloc_ratio = max(self.max_alloc_ratio, peak / bound)
                if peak > bound:
                    self._fail(case, data, f"allocated {peak} bytes for a {len(data)}-byte "
                               f"input (bound {bound})")
        self.slowest = max(self.slowest, elapsed)
        if elapsed > self.slow_after:
            self._fail(case, data, f"took {elapsed:.2f} s of CPU")

    def _fail(self, case: Case, data: bytes, error: str) -> None:
        if len(self.failures) < 100:
            self.failures.append(Failure(case.target, case.version, case.opcode, error, data))
