"""Build greencql, with its optional Cython speedups when Cython and a compiler are present.

Pure Python is always a complete implementation: the speedups sit beside the modules they
replace and are chosen at import time (see greencql/_speedups.py). Set GREENCQL_PURE_PYTHON=1
to skip building them even where Cython is available.
"""

import os

from setuptools import setup

# Cython twins, each beside the Python module it speeds up (chosen by greencql/_speedups.py).
CYTHON_MODULES: list[str] = [
    "greencql/cluster/_murmur3.pyx",
    "greencql/protocol/_columnar.pyx",
    "greencql/protocol/_rows.pyx",
    "greencql/protocol/_frames.pyx",
    "greencql/protocol/_segments.pyx",
    "greencql/protocol/_encode.pyx",
    "greencql/protocol/_request.pyx",
]


def _extensions():
    if os.environ.get("GREENCQL_PURE_PYTHON") or not CYTHON_MODULES:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    try:
        extensions = cythonize(CYTHON_MODULES, language_level=3, quiet=True)
    except Exception as exc:  # a Cython error: pure Python still works
        print(f"greencql: building without Cython speedups ({exc})")
        return []
    for extension in extensions:
        extension.optional = True  # no C compiler, or it fails: install pure Python anyway
    return extensions


setup(ext_modules=_extensions())
