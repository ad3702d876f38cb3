"""medai_lib: the library behind the MedAI course.

Notebooks make short calls into this package; all logic lives and is tested here.
Sub-packages are imported on demand so that ``import medai_lib`` stays fast.
"""
from __future__ import annotations

import importlib

from medai_lib._version import __version__
from medai_lib.errors import MedaiError, MedaiInputError
from medai_lib.recording import record, recorded

__all__ = ["__version__", "MedaiError", "MedaiInputError", "record", "recorded"]

_SUBMODULES = {
    "apnea", "cancer", "course", "data", "device", "evaluation", "fibrosis",
    "plotting", "training", "widgets",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"medai_lib.{name}")
    raise AttributeError(f"module 'medai_lib' has no attribute {name!r}")
