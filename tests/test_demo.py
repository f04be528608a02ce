"""The main job (`make demo`) runs to the end on this process's hub, in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import TEST_HUB


@pytest.mark.skipif(TEST_HUB == "none", reason="the demo needs a hub")
def test_demo_runs_to_the_end():
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-m", "greencql.demo", "--hub", TEST_HUB, "--rows", "300"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "300 inserts in" in out and ", 0 failed" in out
    assert "300 reads with node2 down: 300 succeeded" in out
    assert "first insert applied=True, second applied=False" in out
    assert "OperationTimedOut after" in out
    assert out.rstrip().endswith("no greenlet left running")
