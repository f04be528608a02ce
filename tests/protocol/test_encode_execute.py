"""messages.encode_execute (the session's one-call EXECUTE) against the reference encoder.

Bytes only: the body it builds must equal ``encode_request(Execute(...))`` for the same
inputs, in every version, and what it declines (None) must be what the generic encoder is
for. An EncodedExecute refuses to be sent on a connection of another version.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.errors import UnsupportedOperation
from greencql.protocol.messages import (
    EncodedExecute,
    Execute,
    QueryParameters,
    decode_request,
    encode_execute,
    encode_request,
)
from greencql.protocol.wire import UNSET

values_st = st.lists(
    st.one_of(st.none(), st.just(UNSET), st.binary(max_size=40), st.binary(min_size=1024,
                                                                            max_size=1100)),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from([3, 4, 5]),
    values=values_st,
    consistency=st.integers(0, 10),
    skip=st.booleans(),
    page_size=st.one_of(st.none(), st.integers(1, 2**31 - 1)),
    serial=st.one_of(st.none(), st.sampled_from([8, 9])),
    timestamp=st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    query_id=st.binary(min_size=1, max_size=32),
)
def test_same_bytes_as_the_reference(version, values, consistency, skip, page_size, serial,
                                     timestamp, query_id):
    md_id = b"\x01\x02" if version == 5 else None
    fast = encode_execute(query_id, md_id, consistency, values, skip, page_size, serial,
                          timestamp, version)
    if version < 4 and any(v is UNSET for v in values):
        assert fast is None  # the generic encoder words that error
        return
    assert isinstance(fast, EncodedExecute)
    reference = Execute(query_id, QueryParameters(
        consistency, values, skip_metadata=skip, page_size=page_size,
        serial_consistency=serial, timestamp=timestamp), md_id)
    assert encode_request(fast, version) == encode_request(reference, version)
    assert fast.query_id == query_id and fast.opcode == Execute.opcode
    assert not fast.tracing and fast.custom_payload is None
    back = decode_request(Execute.opcode, fast.body, version)
    assert back.query_id == query_id


def test_declines_what_needs_the_generic_encoder():
    assert encode_execute(b"q" * 0x10000, None, 1, [], False, None, None, None, 4) is None
    assert encode_execute(b"q", None, 1, [], False, None, None, None, 5) is None  # no md id
    assert encode_execute(b"q", None, 1, [], False, None, None, None, 6) is None


def test_refuses_another_version():
    fast = encode_execute(b"q", None, 1, [b"x"], False, None, None, None, 4)
    with pytest.raises(UnsupportedOperation, match="v4"):
        encode_request(fast, 3)
