"""The Cython twins and their selector (greencql._speedups, GREENCQL_IMPL).

A twin gives exactly its Python module's results (hypothesis, every tail length, bytes with
the sign bit set); the selector takes pure Python when asked, refuses an unknown value, and
makes a missing twin an error when ``c`` is asked for. The rest of the suite runs once per
implementation (scripts/test), so every other test also holds the twins to the same answers.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest
from conftest import TEST_HUB
from hypothesis import given
from hypothesis import strategies as st

from greencql import _speedups

# the module (greencql.cluster also exports the function under this name, as cassandra-driver)
murmur3_module = importlib.import_module("greencql.cluster.murmur3")

pytestmark = pytest.mark.skipif(TEST_HUB != "none", reason="hub-free: runs in the none process")

try:
    compiled_murmur3 = importlib.import_module("greencql.cluster._murmur3").murmur3
except ImportError:  # not built (no Cython or no compiler): pure Python only
    compiled_murmur3 = None

needs_twin = pytest.mark.skipif(compiled_murmur3 is None, reason="Cython twins not built")


@needs_twin
@given(st.binary(max_size=80))
def test_murmur3_twin_equals_python(data):
    assert compiled_murmur3(data) == murmur3_module._murmur3_python(data)


@needs_twin
def test_murmur3_twin_every_tail_with_sign_bits():
    for length in range(0, 40):
        for fill in (0x00, 0x7F, 0x80, 0xFF):
            data = bytes((fill + i * 37) & 0xFF for i in range(length))
            assert compiled_murmur3(data) == murmur3_module._murmur3_python(data)
            assert compiled_murmur3(bytearray(data)) == murmur3_module._murmur3_python(data)


def test_the_chosen_implementation_is_the_requested_one():
    requested = _speedups._requested()
    chosen = murmur3_module.murmur3
    if requested == "python":
        assert chosen is murmur3_module._murmur3_python
    elif requested == "c":
        assert chosen is compiled_murmur3


def _import_with(impl: str, module: str = "greencql.cluster.murmur3"):
    return subprocess.run(
        [sys.executable, "-c", f"import {module}; import greencql._speedups as s; "
                               "print(s.implementation())"],
        capture_output=True, text=True, timeout=60, env={"GREENCQL_IMPL": impl, "PATH": ""},
    )


def test_selector_refuses_unknown_values():
    proc = _import_with("cython")
    assert proc.returncode != 0
    assert "GREENCQL_IMPL='cython': expected 'python', 'c' or nothing" in proc.stderr


def test_python_is_chosen_when_asked():
    proc = _import_with("python")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "python"


def test_asking_for_a_twin_that_is_not_built_is_an_error(monkeypatch):
    monkeypatch.setenv("GREENCQL_IMPL", "c")
    expected = "GREENCQL_IMPL=c but the Cython twin greencql._no_such_twin is not built"
    with pytest.raises(ImportError, match=re.escape(expected)):
        _speedups.twin("greencql._no_such_twin")


# the protocol twins (their equality with Python: tests/protocol/test_protocol_twins.py)

_PROTOCOL_TWINS = [
    ("greencql.protocol.frames", "encode_frame", "_encode_frame_python",
     "greencql.protocol._frames"),
    ("greencql.protocol.frames", "FrameDecoder", "_FrameDecoder_python",
     "greencql.protocol._frames"),
    ("greencql.protocol.segments", "crc24", "_crc24_python", "greencql.protocol._segments"),
    ("greencql.protocol.segments", "SegmentEncoder", "_SegmentEncoder_python",
     "greencql.protocol._segments"),
    ("greencql.protocol.segments", "SegmentDecoder", "_SegmentDecoder_python",
     "greencql.protocol._segments"),
    ("greencql.protocol.types", "encode_value", "_encode_value_python",
     "greencql.protocol._encode"),
]


@pytest.mark.parametrize(("module", "name", "python_name", "compiled"), _PROTOCOL_TWINS)
def test_protocol_names_are_the_requested_implementation(module, name, python_name, compiled):
    requested = _speedups._requested()
    chosen = getattr(importlib.import_module(module), name)
    python = getattr(importlib.import_module(module), python_name)
    if requested == "python":
        assert chosen is python
    elif requested == "c":
        assert chosen is getattr(importlib.import_module(compiled), name)


def test_native_encoders_are_the_requested_implementation():
    from greencql.protocol import types

    requested = _speedups._requested()
    if requested == "python":
        assert types.INT.encode is types._ENCODERS_PYTHON["int"]
    elif requested == "c":
        encoders = importlib.import_module("greencql.protocol._encode").ENCODERS
        for kind, encoder in encoders.items():
            assert types.NATIVE_TYPES[kind].encode is encoder
        assert types.UUID.encode is types._ENCODERS_PYTHON["uuid"]  # no twin: stays Python


@pytest.mark.parametrize("impl", ["python", "c"])
def test_protocol_modules_report_the_implementation(impl):
    if impl == "c" and compiled_murmur3 is None:
        pytest.skip("Cython twins not built")
    proc = _import_with(impl, "greencql.protocol.frames, greencql.protocol.types")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == impl
