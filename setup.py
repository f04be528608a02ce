"""Build greencql, with its optional Cython speedups when Cython and a compiler are present.

Pure Python is always a complete implementation: the speedups sit beside the modules they
replace and are chosen at import time (see greencql/_speedups.py). Set GREENCQL_PURE_PYTHON=1
to skip building them even where Cython is available.
"""

import os

from setuptools import setup

# Modules with a Cython twin; empty until the speedup issue lands.
CYTHON_MODULES: list[str] = []


def _extensions():
    if os.environ.get("GREENCQL_PURE_PYTHON") or not CYTHON_MODULES:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    try:
        return cythonize(CYTHON_MODULES, language_level=3, quiet=True)
    except Exception as exc:  # no compiler, or a build error: pure Python still works
        print(f"greencql: building without Cython speedups ({exc})")
        return []


setup(ext_modules=_extensions())
