"""docs/migrating.md tells the truth: its sed command ports import lines, and only them, and
the ported imports work."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "migrating.md"

SAMPLE = '''\
from cassandra.cluster import Cluster, ExecutionProfile, EXEC_PROFILE_DEFAULT
from cassandra import ConsistencyLevel, ProtocolVersion
from cassandra.query import dict_factory, SimpleStatement
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.util import SortedSet, uuid_from_time
import cassandra.metadata
if True:
    from cassandra.auth import PlainTextAuthProvider
x = "from cassandra.cluster import Cluster"
'''


def _sed_command() -> str:
    block = re.search(r"## The port in one command\n\n```\n(.*?)```", DOC.read_text(), re.S)
    assert block, "the command block is missing"
    text = block.group(1).replace("\\\n", " ")
    return text.replace("$(git ls-files '*.py')", "").strip()


@pytest.mark.skipif(shutil.which("sed") is None, reason="needs sed")
def test_the_documented_sed_ports_imports(tmp_path):
    path = tmp_path / "app.py"
    path.write_text(SAMPLE)
    subprocess.run(f"{_sed_command()} {path}", shell=True, check=True, timeout=30)
    ported = path.read_text()
    assert "from greencql.cluster import Cluster, ExecutionProfile" in ported
    assert "from greencql import ConsistencyLevel, ProtocolVersion" in ported
    assert "    from greencql.auth import PlainTextAuthProvider" in ported
    assert "import greencql.metadata" in ported
    assert 'x = "from cassandra.cluster import Cluster"' in ported  # not an import line
    namespace: dict = {}
    exec(compile(ported, "app.py", "exec"), namespace)
    assert namespace["x"] == "from cassandra.cluster import Cluster"
    assert namespace["SortedSet"]([2, 1]) == {1, 2}
