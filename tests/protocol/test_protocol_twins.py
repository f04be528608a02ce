"""The protocol Cython twins give exactly their Python originals' answers, errors included.

Each compiled twin (``_frames.pyx``: encode_frame, FrameDecoder; ``_segments.pyx``: crc24,
crc32, SegmentEncoder, SegmentDecoder; ``_encode.pyx``: encode_value and the native encoders)
runs side by side with the Python code it replaces (kept under ``_..._python`` names whichever
implementation GREENCQL_IMPL chose) on the same hypothesis inputs: valid frames and segments,
then the same bytes mutated (bits flipped, bytes cut or inserted) and cut into random reads.
Every step must give equal values, or the same exception type with the same message (and the
same state afterwards: a decoder that raised raises again). Bytes only; skipped when the twins
are not built.
"""

from __future__ import annotations

import enum
import importlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.errors import ProtocolError
from greencql.protocol import frames, segments, types
from greencql.protocol.compression import get_compressor
from greencql.protocol.constants import REQUEST_OPCODES, RESPONSE_OPCODES

pytestmark = pytest.mark.hubfree


def _compiled(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


C_FRAMES = _compiled("greencql.protocol._frames")
C_SEGMENTS = _compiled("greencql.protocol._segments")
C_ENCODE = _compiled("greencql.protocol._encode")
needs_frames = pytest.mark.skipif(C_FRAMES is None, reason="Cython twins not built")
needs_segments = pytest.mark.skipif(C_SEGMENTS is None, reason="Cython twins not built")
needs_encode = pytest.mark.skipif(C_ENCODE is None, reason="Cython twins not built")

LZ4 = get_compressor("lz4")
SNAPPY = get_compressor("snappy")


def outcome(fn, *args, **kwargs):
    """('ok', value) or ('error', exception type, message): what a caller can see."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as exc:  # every exception is compared, not only the expected ones
        return ("error", type(exc), str(exc))


def _norm(result):
    # NaN != NaN: compare floats by their bytes
    if result[0] == "ok" and isinstance(result[1], float) and math.isnan(result[1]):
        return ("ok", "nan")
    return result


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` as sent, or with a few bits flipped, bytes cut or bytes inserted."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "none"]))
        if kind == "flip" and out:
            i = draw(st.integers(0, len(out) - 1))
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut" and out:
            i = draw(st.integers(0, len(out) - 1))
            del out[i : i + draw(st.integers(1, 4))]
        elif kind == "insert":
            i = draw(st.integers(0, len(out)))
            out[i:i] = draw(st.binary(min_size=1, max_size=4))
    return bytes(out)


@st.composite
def chunked(draw, data: bytes) -> list:
    """``data`` cut into reads, each as bytes, bytearray or memoryview."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=5)))
    pieces = []
    start = 0
    for cut in [*cuts, len(data)]:
        piece = data[start:cut]
        kind = draw(st.sampled_from(["bytes", "bytes", "bytearray", "memoryview"]))
        pieces.append(bytearray(piece) if kind == "bytearray"
                      else memoryview(piece) if kind == "memoryview" else piece)
        start = cut
    return pieces


# ---------------------------------------------------------------------------------------------
# frames
# ---------------------------------------------------------------------------------------------


@st.composite
def frame_stream(draw):
    """(decoder settings, wire bytes): several frames of one direction, maybe compressed."""
    version = draw(st.sampled_from([3, 4, 5]))
    is_response = draw(st.booleans())
    opcodes = sorted(RESPONSE_OPCODES if is_response else REQUEST_OPCODES)
    compressor = draw(st.sampled_from([None, LZ4, SNAPPY])) if version < 5 else None
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        body = draw(st.binary(max_size=60) | st.just(b"a" * draw(st.integers(0, 300))))
        parts.append(frames._encode_frame_python(
            draw(st.sampled_from([version, version, 3, 4, 5])),
            draw(st.integers(0, 255)),
            draw(st.integers(-32768, 32767)),
            int(draw(st.sampled_from(opcodes))),
            body,
            compressor if draw(st.booleans()) else None,
            is_response=is_response,
        ))
    settings_ = {
        "version": draw(st.sampled_from([None, version])),
        "is_response": is_response if draw(st.integers(0, 9)) else not is_response,
        "max_body_length": draw(st.sampled_from([frames.DEFAULT_MAX_FRAME_BODY, 100, 0])),
        "compressor": compressor if draw(st.integers(0, 4)) else None,
    }
    stop_after_switch = draw(st.booleans())
    return settings_, stop_after_switch, b"".join(parts)


def _decoder_state(d):
    return (d.buffered(), d.version, d.is_response, d.max_body_length, d.stop_after_switch)


@needs_frames
@settings(max_examples=300, deadline=None)
@given(frame_stream(), st.data())
def test_frame_decoder_twin_equals_python(stream, data):
    settings_, stop_after_switch, wire = stream
    wire = data.draw(mutated(wire))
    reads = data.draw(chunked(wire))
    ours = C_FRAMES.FrameDecoder(**settings_)
    theirs = frames._FrameDecoder_python(**settings_)
    ours.stop_after_switch = theirs.stop_after_switch = stop_after_switch
    for read in reads:
        got, want = outcome(ours.feed, read), outcome(theirs.feed, read)
        assert got == want
        assert _decoder_state(ours) == _decoder_state(theirs)
    assert outcome(ours.take_buffered) == outcome(theirs.take_buffered)
    assert ours.buffered() == theirs.buffered() == 0


@needs_frames
@settings(max_examples=300, deadline=None)
@given(frame_stream(), st.data(), st.sampled_from([bytes, memoryview]))
def test_frame_decode_exact_twin_equals_python(stream, data, kind):
    settings_, _, wire = stream
    wire = kind(data.draw(mutated(wire)))
    ours = C_FRAMES.FrameDecoder(**settings_)
    theirs = frames._FrameDecoder_python(**settings_)
    assert outcome(ours.decode_exact, wire) == outcome(theirs.decode_exact, wire)


@needs_frames
def test_frame_decoder_twin_errors_are_sticky_and_protocol_errors():
    bad = b"\x01\x00\x00\x01\x08\x00\x00\x00\x00"  # a v1 frame
    for cls in (C_FRAMES.FrameDecoder, frames._FrameDecoder_python):
        decoder = cls(4)
        with pytest.raises(ProtocolError) as first:
            decoder.feed(bad)
        with pytest.raises(ProtocolError) as again:
            decoder.feed(b"")
        assert again.value is first.value


class _Op(enum.IntEnum):
    EXECUTE = 0x0A


_ints = st.one_of(
    st.integers(-2, 300), st.integers(-40000, 40000), st.integers(-(2**70), 2**70),
    st.booleans(), st.just(_Op.EXECUTE),
)


@needs_frames
@settings(max_examples=500, deadline=None)
@given(
    _ints, _ints, _ints, _ints,
    st.binary(max_size=300).flatmap(
        lambda b: st.sampled_from([b, bytearray(b), memoryview(b), b * 20])
    ),
    st.sampled_from([None, LZ4, SNAPPY]),
    st.booleans(),
)
def test_encode_frame_twin_equals_python(version, flags, stream, opcode, body, comp, response):
    args = (version, flags, stream, opcode, body, comp)
    got = outcome(C_FRAMES.encode_frame, *args, is_response=response)
    want = outcome(frames._encode_frame_python, *args, is_response=response)
    assert got == want


# ---------------------------------------------------------------------------------------------
# segments
# ---------------------------------------------------------------------------------------------


@needs_segments
@given(st.binary(max_size=40), st.sampled_from([bytes, bytearray, memoryview]))
def test_crc_twins_equal_python(data, kind):
    value = kind(data)
    assert C_SEGMENTS.crc24(value) == segments._crc24_python(value)
    assert C_SEGMENTS.crc32(value) == segments.zlib.crc32(value, segments.CRC32_SEED)


@needs_segments
def test_crc_twins_refuse_what_python_refuses():
    for value in (None, 3, "abc"):
        assert outcome(C_SEGMENTS.crc24, value)[:2] == outcome(segments._crc24_python, value)[:2]


_frame_bytes = st.lists(
    st.binary(max_size=200) | st.integers(0, 3000).map(lambda n: b"x" * n),
    max_size=6,
)


@needs_segments
@settings(max_examples=200, deadline=None)
@given(_frame_bytes, st.sampled_from([None, LZ4]))
def test_segment_encoder_twin_equals_python(frame_list, comp):
    ours, theirs = C_SEGMENTS.SegmentEncoder(comp), segments._SegmentEncoder_python(comp)
    assert ours.encode_frames(frame_list) == theirs.encode_frames(frame_list)
    for frame in frame_list:
        assert ours.encode(frame) == theirs.encode(frame)
        assert ours.encode(bytearray(frame)) == theirs.encode(bytearray(frame))
    out_ours, out_theirs = bytearray(), bytearray()
    for i, frame in enumerate(frame_list):
        ours.write_segment(out_ours, frame, bool(i % 2))
        theirs.write_segment(out_theirs, frame, bool(i % 2))
    assert out_ours == out_theirs


@needs_segments
def test_segment_encoder_twin_large_frames_and_refusals():
    big = bytes(range(256)) * 1200  # more than one segment's payload
    for comp in (None, LZ4):
        ours, theirs = C_SEGMENTS.SegmentEncoder(comp), segments._SegmentEncoder_python(comp)
        assert ours.encode(big) == theirs.encode(big)
        assert ours.encode_frames([b"a", big, b"b"]) == theirs.encode_frames([b"a", big, b"b"])
        too_big = b"x" * (segments.MAX_SEGMENT_PAYLOAD + 1)
        assert outcome(ours.write_segment, bytearray(), too_big, True) == outcome(
            theirs.write_segment, bytearray(), too_big, True)
    assert outcome(C_SEGMENTS.SegmentEncoder, SNAPPY) == outcome(
        segments._SegmentEncoder_python, SNAPPY)
    assert outcome(C_SEGMENTS.SegmentDecoder, SNAPPY) == outcome(
        segments._SegmentDecoder_python, SNAPPY)


@needs_segments
@settings(max_examples=300, deadline=None)
@given(_frame_bytes, st.sampled_from([None, LZ4]), st.data())
def test_segment_decoder_twin_equals_python(frame_list, comp, data):
    wire = segments._SegmentEncoder_python(comp).encode_frames(frame_list)
    wire = data.draw(mutated(wire))
    reads = data.draw(chunked(wire))
    ours, theirs = C_SEGMENTS.SegmentDecoder(comp), segments._SegmentDecoder_python(comp)
    for read in reads:
        got, want = outcome(ours.feed, read), outcome(theirs.feed, read)
        assert got == want
        assert ours.buffered() == theirs.buffered()


# ---------------------------------------------------------------------------------------------
# bind values
# ---------------------------------------------------------------------------------------------


class _Index:
    def __init__(self, n):
        self.n = n

    def __index__(self):
        return self.n


class _MyInt(int):
    pass


class _MyStr(str):
    pass


_values = st.one_of(
    st.integers(-(2**8), 2**8), st.integers(-(2**16), 2**16), st.integers(-(2**33), 2**33),
    st.integers(-(2**70), 2**70), st.booleans(), st.floats(allow_nan=True),
    st.text(max_size=20), st.just("\ud800"), st.binary(max_size=20),
    st.binary(max_size=8).map(bytearray), st.binary(max_size=8).map(memoryview),
    st.integers(-1000, 1000).map(_Index), st.integers(-1000, 1000).map(_MyInt),
    st.text(max_size=5).map(_MyStr), st.just(None), st.just(types.UNSET), st.just(object()),
    st.just([1, 2]),
)


@needs_encode
@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(C_ENCODE.ENCODERS) if C_ENCODE else ["int"]), _values,
       st.sampled_from([None, "k"]))
def test_encoder_twins_equal_python(kind, value, name):
    ours = C_ENCODE.ENCODERS[kind]
    theirs = types._ENCODERS_PYTHON[kind]
    if value is not None and value is not types.UNSET:
        assert _norm(outcome(ours, value)) == _norm(outcome(theirs, value))
    t = types.NATIVE_TYPES[kind]
    py_type = types.NativeType(kind, t.type_id, t._java_name, theirs, t.decode)
    c_type = types.NativeType(kind, t.type_id, t._java_name, ours, t.decode)
    got = outcome(C_ENCODE.encode_value, c_type, value, name)
    want = outcome(types._encode_value_python, py_type, value, name)
    assert _norm(got) == _norm(want)


@needs_encode
def test_encode_value_twin_chains_the_cause():
    for fn, t in ((C_ENCODE.encode_value, types.INT), (types._encode_value_python, types.INT)):
        with pytest.raises(ValueError) as info:
            fn(t, 2**40, "k")
        assert str(info.value).startswith("column 'k' of type int: ")
        assert type(info.value.__cause__) is ValueError


# ---------------------------------------------------------------------------------------------
# request bodies (QUERY / EXECUTE)
# ---------------------------------------------------------------------------------------------

C_REQUEST = _compiled("greencql.protocol._request")
needs_request = pytest.mark.skipif(C_REQUEST is None, reason="Cython twins not built")


def _maybe(strategy):
    return st.none() | strategy


_bind_value = st.one_of(
    st.binary(max_size=30), st.integers(0, 1100).map(lambda n: b"v" * n), st.none(),
    st.just(types.UNSET), st.binary(max_size=4).map(bytearray), st.integers(0, 9),
)
_field_int = st.one_of(st.integers(-5, 70000), st.integers(-(2**64), 2**64), st.booleans(),
                       st.just("1"), st.just(1.0))


@st.composite
def statements(draw):
    from greencql.protocol import messages as m

    params = m.QueryParameters(
        draw(_field_int),
        draw(st.none() | st.lists(_bind_value, max_size=5)
             | st.lists(_bind_value, max_size=3).map(tuple)
             | st.just({"a": b"x"})),
        draw(st.booleans()),
        draw(_maybe(_field_int)),
        draw(_maybe(st.binary(max_size=10) | st.just(bytearray(b"ps")))),
        draw(_maybe(_field_int)),
        draw(_maybe(_field_int)),
        draw(_maybe(st.text(max_size=8) | st.just("\ud800"))),
        draw(_maybe(_field_int)),
    )
    if draw(st.booleans()):
        msg = m.Execute(draw(st.binary(max_size=20) | st.just(bytearray(b"id"))), params,
                        draw(_maybe(st.binary(max_size=20))))
    else:
        msg = m.Query(draw(st.text(max_size=30) | st.just("\udcff")), params)
    return msg


@needs_request
@settings(max_examples=500, deadline=None)
@given(statements(), st.sampled_from([3, 4, 5, 5, 6, 2]))
def test_request_twin_writes_python_bytes_or_declines(msg, version):
    from greencql.protocol import messages as m

    def encode(fast):
        try:
            return fast(msg, version)
        except Exception:
            return m._encode_request_generic(msg, version)

    got = outcome(C_REQUEST._fast_statement, msg, version)
    want = outcome(m._fast_statement_python, msg, version)
    if got[0] == "ok":
        assert want == got  # never bytes where the Python fast path has none, never others
    assert outcome(encode, C_REQUEST._fast_statement) == outcome(encode, m._fast_statement_python)


_items = st.lists(
    st.tuples(_ints, _ints, st.binary(max_size=40)).map(lambda t: (t[0], t[1], t[2]))
    | st.tuples(_ints, _ints, st.binary(max_size=40), _ints)
    | st.tuples(st.integers(0, 5), st.integers(0, 5), st.just(bytearray(b"ba")))
    | st.just([1, 7, b"list item"]) | st.just((1, 7)),
    max_size=6,
)


@needs_frames
@settings(max_examples=500, deadline=None)
@given(_ints, _items, st.booleans(), st.sampled_from([list, tuple, iter]))
def test_encode_plain_frames_twin_equals_python(version, items, response, container):
    got = outcome(C_FRAMES.encode_plain_frames, version, container(items), response)
    want = outcome(frames._encode_plain_frames_python, version, container(items), response)
    assert got == want
