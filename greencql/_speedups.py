"""The one place where greencql chooses between a module's Python code and its Cython twin.

A twin is a compiled module beside the Python module it speeds up (``greencql/cluster/
_murmur3.pyx`` beside ``murmur3.py``), with the same function names, signatures and behaviour;
``setup.py`` builds it when Cython and a C compiler are present. The Python module asks
:func:`twin` at import time and, when it gets the compiled module, rebinds its public names to
the compiled functions. Pure Python stays a complete implementation.

``GREENCQL_IMPL`` (an implementation switch, never an application setting):

- unset or empty: the twins when built, else pure Python;
- ``python``: pure Python, even where twins are built (the test suite runs both ways);
- ``c``: the twins; a twin that is not built is an error at import, never a silent fallback.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["IMPL_ENV", "implementation", "twin"]

IMPL_ENV = "GREENCQL_IMPL"
_CHOICES = ("", "python", "c")

_loaded: dict[str, bool] = {}


def _requested() -> str:
    value = os.environ.get(IMPL_ENV, "").strip().lower()
    if value not in _CHOICES:
        raise ValueError(f"{IMPL_ENV}={value!r}: expected 'python', 'c' or nothing")
    return value


def twin(module: str) -> ModuleType | None:
    """The compiled twin ``module`` (a dotted name), or None when pure Python is used."""
    requested = _requested()
    if requested == "python":
        _loaded[module] = False
        return None
    try:
        compiled = importlib.import_module(module)
    except ImportError as exc:
        if requested == "c":
            raise ImportError(
                f"{IMPL_ENV}=c but the Cython twin {module} is not built (build greencql "
                f"with Cython and a C compiler present, or unset {IMPL_ENV}): {exc}"
            ) from exc
        _loaded[module] = False
        return None
    _loaded[module] = True
    return compiled


def implementation() -> str:
    """``"c"`` when every twin imported so far is compiled, else ``"python"``."""
    return "c" if _loaded and all(_loaded.values()) else "python"
