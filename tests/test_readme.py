"""The README's examples run as written (against the simulated cluster instead of a server)."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

import pytest
from conftest import TEST_HUB

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"

pytestmark = pytest.mark.skipif(TEST_HUB == "none", reason="needs a hub")


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_example_runs(sim_cluster):
    example = _python_blocks()[0]
    # this process is already patched by tests/conftest.py; the example's server is the sim
    example = example.replace("from gevent import monkey; monkey.patch_all()", "")
    assert 'Cluster(["127.0.0.1"])' in example
    example = example.replace(
        'Cluster(["127.0.0.1"])', f'Cluster(["127.0.0.1"], port={sim_cluster.port})'
    )
    assert len(example.strip().splitlines()) <= 22
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README example", "exec"), {})
    lines = out.getvalue().splitlines()
    assert sorted(lines[:10]) == sorted(f"{i} item {i}" for i in range(10))
    assert "count=10" in lines[10]


def test_the_simulator_example_runs():
    example = _python_blocks()[1]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README simulator example", "exec"), {})
    assert out.getvalue().strip() in ("node1", "node3")  # node2 was stopped
