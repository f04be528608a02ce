"""The import rules of DESIGN.md, checked on the source (no imports executed).

- protocol/ imports nothing from hubs/, pool/, cluster/, testing/, and no hub library;
- only hubs/ imports gevent or eventlet;
- pool/ imports nothing from cluster/ or testing/;
- nothing but testing/ (and the CLI that starts it) imports testing/;
- no library module imports the application entry points (the demo).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "greencql"
HUB_LIBRARIES = ("gevent", "eventlet")


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                package = path.relative_to(ROOT).with_suffix("").parts[: -node.level]
                base = ".".join(package)
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
    return names


def _modules(layer: str) -> list[pathlib.Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def _violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in _modules(layer):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def test_protocol_is_sans_io():
    forbidden = (
        "greencql.hubs",
        "greencql.pool",
        "greencql.cluster",
        "greencql.testing",
        "socket",
        "ssl",
        "threading",
        "time",
        *HUB_LIBRARIES,
    )
    assert _violations("protocol", forbidden) == []


@pytest.mark.parametrize("layer", ["protocol", "pool", "cluster", "testing"])
def test_only_hubs_import_hub_libraries(layer):
    assert _violations(layer, HUB_LIBRARIES) == []


# Application entry points, not library code: they monkey-patch the program before anything
# else is imported, as a gunicorn gevent worker does. Nothing in the library imports them.
ENTRY_POINTS = {"demo.py"}


def test_top_level_modules_do_not_import_hub_libraries():
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name in ENTRY_POINTS:
            continue
        for name in _imports(path):
            if name.split(".")[0] in HUB_LIBRARIES:
                found.append(f"{path.name} imports {name}")
    assert found == []


def test_pool_does_not_know_the_cluster():
    assert _violations("pool", ("greencql.cluster", "greencql.testing")) == []


def test_hubs_know_nothing_above_them():
    assert _violations("hubs", ("greencql.pool", "greencql.cluster", "greencql.testing")) == []


def test_only_testing_imports_testing():
    for layer in ("protocol", "hubs", "pool", "cluster"):
        assert _violations(layer, ("greencql.testing",)) == []


def test_library_does_not_import_entry_points():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent == PACKAGE and path.name in ENTRY_POINTS | {"cli.py", "__main__.py"}:
            continue
        for name in _imports(path):
            if name in {f"greencql.{e[:-3]}" for e in ENTRY_POINTS}:
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    assert found == []
