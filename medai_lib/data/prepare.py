"""Prepare (generate and cache) the sample data of every track, so lessons start without waiting."""
from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

#: Modules that may define ``prepare_sample_data(quick: bool) -> str`` (a line saying what was prepared).
TRACK_MODULES = ("medai_lib.fibrosis", "medai_lib.apnea", "medai_lib.cancer")


def prepare_sample_data(*, quick: bool = False) -> list[str]:
    """Run every track's preparer that exists; return one line per track."""
    lines = []
    for name in TRACK_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            lines.append(f"{name.split('.')[-1]}: not available ({exc})")
            continue
        prepare = getattr(module, "prepare_sample_data", None)
        if prepare is None:
            lines.append(f"{name.split('.')[-1]}: generated on first use")
            continue
        lines.append(f"{name.split('.')[-1]}: {prepare(quick=quick)}")
    return lines
