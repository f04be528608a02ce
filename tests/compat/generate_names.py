"""Regenerate ``cassandra_names.json``: the public names of cassandra-driver's modules.

Run once against the installed cassandra-driver (3.30.1) and check the output in:
``/work/venv/bin/python tests/compat/generate_names.py > tests/compat/cassandra_names.json``.
A name counts when it does not start with ``_`` and it is a class or function of
cassandra-driver (its ``__module__`` starts with ``cassandra``, but not ``cassandra.io``: the
reactors are out of scope and depend on what the process patched), or a constant assigned at the
top level of that module's source. Names imported from the standard library are left out:
an application does not import ``itertools.chain`` from ``cassandra.cluster``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pathlib
import re
import sys
import types
import warnings

MODULES = (
    "cassandra",
    "cassandra.cluster",
    "cassandra.query",
    "cassandra.policies",
    "cassandra.auth",
    "cassandra.concurrent",
    "cassandra.util",
    "cassandra.metadata",
    "cassandra.protocol",
    "cassandra.connection",
    "cassandra.pool",
    "cassandra.cqltypes",
    "cassandra.timestamps",
    "cassandra.encoder",
)


def public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    # some modules are compiled (Cython); their .py source sits beside the extension
    path = pathlib.Path(module.__file__ or "")
    source = path.with_name(path.name.split(".")[0] + ".py").read_text()
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        home = getattr(value, "__module__", None)
        if (inspect.isclass(value) or callable(value)) and isinstance(home, str):
            # the reactors (cassandra.io) are out of scope, and which one cassandra.cluster
            # picks depends on what the process has patched
            if home.startswith("cassandra") and not home.startswith("cassandra.io"):
                names.append(name)
        elif re.search(rf"^{re.escape(name)}\s*=", source, re.MULTILINE) and name.isupper():
            names.append(name)
    return sorted(names)


def main() -> None:
    # cassandra.cluster imports its eventlet reactor; without eventlet patched it only warns
    sys.modules.setdefault("cassandra.io.eventletreactor", None)  # type: ignore[arg-type]
    warnings.simplefilter("ignore")
    import cassandra

    table = {"version": cassandra.__version__, "modules": {m: public_names(m) for m in MODULES}}
    json.dump(table, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
