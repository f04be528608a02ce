"""Big ROWS pages decoded lazily (protocol.rows.LazyRows) and the ``raw_rows`` of a result.

Bytes only: pages written by greencql's encoder, decoded by ``decode_response``. A page over
``LAZY_BYTES`` comes back undecoded; its rows equal the eager decoder's, slice by slice, with
a pause between slices; a malformed cell raises the eager path's ProtocolError subclass when
its slice is used; the cheap checks (row count) still fail at response time.
"""

from __future__ import annotations

import struct

import pytest

from greencql.errors import MalformedError, ProtocolError, TruncatedError
from greencql.protocol import messages as M
from greencql.protocol import rows as R
from greencql.protocol import types as T
from greencql.protocol.constants import Opcode

pytestmark = pytest.mark.hubfree

COLUMNS = tuple(R.ColumnSpec("ks", "t", n, t) for n, t in (
    ("a", T.INT), ("b", T.TEXT), ("c", T.DOUBLE), ("d", T.UUID), ("e", T.ListType(T.INT)),
))


def _rows(n):
    import uuid
    return [(i, f"row {i}", i / 3, uuid.UUID(int=i), [i, i + 1]) for i in range(n)]


def _body(rows, version=4):
    flags, body = M.encode_response(M.RowsResult(R.ResultMetadata.of(COLUMNS), rows), version)
    assert flags == 0
    return body


def _decode(body, version=4, value_types="modern"):
    return M.decode_response(Opcode.RESULT, 0, body, version, value_types=value_types)


def test_small_page_is_eager_with_raw_rows():
    rows = _rows(10)
    body = _body(rows)
    msg = _decode(body)
    assert type(msg.rows) is list and msg.rows == rows
    data, pos, end, count = msg.raw_rows
    assert data is body and end == len(body) and count == 10
    assert struct.unpack_from(">i", data, pos - 4)[0] == 10
    assert R._rows_at(data, pos - 4, end, COLUMNS, "modern") == (rows, end)


def test_results_without_rows_have_no_raw_rows():
    assert M.VoidResult().__dict__.get("raw_rows") is None
    assert M.RowsResult(R.ResultMetadata.of(COLUMNS), []).raw_rows is None
    _flags, body = M.encode_response(M.VoidResult(), 4)
    assert getattr(_decode(body), "raw_rows", None) is None


@pytest.mark.parametrize("value_types", ["driver", "modern"])
def test_big_page_is_lazy_and_equals_the_eager_rows(value_types):
    rows = _rows(20_000)
    body = _body(rows)
    assert len(body) > R.LAZY_BYTES
    msg = _decode(body, value_types=value_types)
    lazy = msg.rows
    assert type(lazy) is R.LazyRows
    assert lazy.decoded == 0 and len(lazy) == 20_000 and lazy
    data, pos, end, count = msg.raw_rows
    eager, stop = R._rows_at(data, pos - 4, end, COLUMNS, value_types)
    assert stop == end and count == 20_000
    assert lazy[5] == eager[5] and 0 < lazy.decoded < 20_000  # only the first slice
    assert lazy[-1] == eager[-1] and lazy.decoded == 20_000
    assert list(lazy) == eager and lazy == eager and lazy[10:20] == eager[10:20]
    assert msg == M.RowsResult(msg.metadata, eager, COLUMNS)  # == reads every row


def test_lazy_rows_pause_between_slices_and_apply_the_transform_per_slice():
    body = _body(_rows(20_000))
    lazy = _decode(body).rows
    pauses, slices = [], []

    def transform(chunk):
        slices.append(len(chunk))
        return [row[0] for row in chunk]

    derived = lazy.derive(transform, lambda: pauses.append(0))
    assert list(derived) == list(range(20_000))
    per_slice = R.CHUNK_CELLS // len(COLUMNS)  # 1024 cells
    assert sum(slices) == 20_000 and len(slices) == -(-20_000 // per_slice) > 4
    assert pauses == [0] * (len(slices) - 1)
    assert lazy.decoded == 0  # the original is untouched


def test_iteration_interleaved_with_indexing():
    lazy = _decode(_body(_rows(20_000))).rows
    it = iter(lazy)
    first = [next(it) for _ in range(3)]
    assert lazy[15_000][0] == 15_000
    assert first[2][0] == 2 and [row[0] for row in it] == list(range(3, 20_000))
    with pytest.raises(IndexError):
        lazy[20_000]


def _corrupt_cell(body, row, col_offset_bytes=0):
    """The body with the int cell of `row` (column a) given a length of 3."""
    msg = _decode(body)
    data, pos, _end, _count = msg.raw_rows
    # walk to the row: every cell is [int length][bytes]
    p = pos
    for _ in range(row):
        for _ in COLUMNS:
            n = struct.unpack_from(">i", data, p)[0]
            p += 4 + max(n, 0)
    return data[:p] + struct.pack(">i", 3) + data[p + 4:]


def test_malformed_cell_raises_the_eager_error_when_its_slice_is_used():
    body = _corrupt_cell(_body(_rows(20_000)), 19_000)
    msg = _decode(body)  # cheap checks only: fine
    lazy = msg.rows
    assert lazy[0][0] == 0
    data, pos, end, _count = msg.raw_rows
    with pytest.raises(ProtocolError) as eager:
        R._rows_at(data, pos - 4, end, COLUMNS, "modern")
    with pytest.raises(type(eager.value)) as got:
        list(lazy)
    assert str(got.value) == str(eager.value) and "row 19000" in str(got.value)
    with pytest.raises(type(eager.value)):  # asked again: the same error
        lazy[19_500]


def test_trailing_bytes_after_the_last_row_are_malformed():
    body = _body(_rows(20_000)) + b"\x00\x00"
    lazy = _decode(body).rows
    with pytest.raises(MalformedError, match="2 bytes after the last of 20000 rows"):
        list(lazy)


def test_a_row_count_that_cannot_fit_fails_at_response_time():
    body = bytearray(_body(_rows(20_000)))
    msg = _decode(bytes(body))
    pos = msg.raw_rows[1] - 4
    body[pos:pos + 4] = struct.pack(">i", 10_000_000)
    with pytest.raises(TruncatedError):
        _decode(bytes(body))
    body[pos:pos + 4] = struct.pack(">i", -1)
    with pytest.raises(MalformedError):
        _decode(bytes(body))


def test_body_prefix_path_is_lazy_too():
    """Warnings in the body prefix take the general decoder: big pages are lazy there too."""
    rows = _rows(20_000)
    msg = M.RowsResult(R.ResultMetadata.of(COLUMNS), rows, warnings=("w",))
    flags, body = M.encode_response(msg, 4)
    got = M.decode_response(Opcode.RESULT, flags, body, 4, value_types="modern")
    assert type(got.rows) is R.LazyRows and got.warnings == ("w",)
    assert got.raw_rows[3] == 20_000 and list(got.rows) == rows
