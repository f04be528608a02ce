"""The warnings policy of setup.cfg, proven in a pytest process of its own (issue 8).

A warning raised by greencql's code (or our tests) fails the test; a third-party module that
warns about itself, even at import time of a conftest, never kills the process. The child
pytest gets exactly the ``filterwarnings`` lines of our setup.cfg.
"""

import configparser
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import TEST_HUB

pytestmark = pytest.mark.skipif(TEST_HUB != "none", reason="hub-free: runs in the none process")

_ROOT = Path(__file__).resolve().parents[1]

_PROBES = '''
import types

def _module(name, source):
    module = types.ModuleType(name)
    exec(source, module.__dict__)
    return module

def test_warning_from_greencql_fails():
    probe = _module(
        "greencql._warning_probe",
        "import warnings\\ndef act():\\n    warnings.warn('ours', DeprecationWarning)\\n",
    )
    probe.act()

def test_warning_from_a_test_fails():
    import warnings
    warnings.warn("a test's own", UserWarning)

def test_third_party_warning_passes():
    _module("thirdparty_runtime",
            "import warnings\\nwarnings.warn('theirs', DeprecationWarning)\\n")
'''


def test_ours_fail_theirs_do_not(tmp_path):
    cfg = configparser.ConfigParser()
    cfg.read(_ROOT / "setup.cfg")
    filters = [line for line in cfg["tool:pytest"]["filterwarnings"].splitlines() if line]
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider\nfilterwarnings =\n"
        + "".join(f"    {line}\n" for line in filters)
    )
    # a stand-in for cryptography 51: warns about itself when imported (here by a conftest)
    (tmp_path / "thirdparty_probe.py").write_text(
        "import warnings\nwarnings.warn('DSA is deprecated', UserWarning)\n"
    )
    (tmp_path / "conftest.py").write_text("import thirdparty_probe  # noqa: F401\n")
    (tmp_path / "test_probe.py").write_text(textwrap.dedent(_PROBES))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:randomly", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    out = proc.stdout
    assert "test_warning_from_greencql_fails FAILED" in out, out + proc.stderr
    assert "test_warning_from_a_test_fails FAILED" in out, out
    assert "test_third_party_warning_passes PASSED" in out, out
    assert "2 failed, 1 passed" in out, out
