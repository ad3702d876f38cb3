"""Prepare (generate and cache) the sample data of every track, so lessons start without waiting.

Each track lists its own sample sets in ``medai_lib.<track>.sample_data.sample_sets(quick)``; this tooling
step runs them. The shared ``medai_lib.data`` package (paths and the cache) imports no track.
"""
from __future__ import annotations

import importlib
import logging
import time

log = logging.getLogger(__name__)

#: The tracks whose sample sets ``medai data prepare`` generates, in course order.
TRACKS = ("fibrosis", "apnea", "cancer")


def prepare_track(track: str, *, quick: bool = False) -> str:
    """Generate (or find cached) every sample set of ``track``; return a line saying what was done."""
    start = time.perf_counter()
    makers = importlib.import_module(f"medai_lib.{track}.sample_data").sample_sets(quick)
    for make in makers:
        make()
    return f"{len(makers)} sample set(s) ready ({'quick' if quick else 'full'} mode, {time.perf_counter() - start:.0f} s)"


def prepare_sample_data(*, quick: bool = False, on_line=None) -> list[str]:
    """Prepare every track's sample data; return one line per track (also passed to ``on_line`` as each
    track finishes: the first preparation takes minutes, later ones find the cache)."""
    lines = []
    for track in TRACKS:
        log.info("preparing the %s sample data", track)
        try:
            line = f"{track}: {prepare_track(track, quick=quick)}"
        except ImportError as exc:  # a trimmed installation without this track
            line = f"{track}: not available ({exc})"
        lines.append(line)
        if on_line is not None:
            on_line(line)
    return lines
