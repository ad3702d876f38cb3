"""Prepare (generate and cache) the sample data of every track, so lessons start without waiting."""
from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

#: Track modules; a module may define ``prepare_sample_data(quick: bool) -> str`` (a line saying what was
#: prepared), otherwise the sets listed in :mod:`medai_lib.data.sample_sets` are prepared.
TRACK_MODULES = ("medai_lib.fibrosis", "medai_lib.apnea", "medai_lib.cancer")


def prepare_sample_data(*, quick: bool = False, on_line=None) -> list[str]:
    """Prepare every track's sample data; return one line per track (also passed to ``on_line`` as each
    track finishes: the first preparation takes minutes, later ones find the cache)."""
    lines = _Lines(on_line)
    for name in TRACK_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            lines.append(f"{name.split('.')[-1]}: not available ({exc})")
            continue
        track = name.split(".")[-1]
        prepare = getattr(module, "prepare_sample_data", None)
        if prepare is not None:
            lines.append(f"{track}: {prepare(quick=quick)}")
            continue
        from medai_lib.data.sample_sets import TRACKS, prepare_track

        if track in TRACKS:
            log.info("preparing the %s sample data", track)
            lines.append(f"{track}: {prepare_track(track, quick=quick)}")
        else:
            lines.append(f"{track}: generated on first use")
    return list(lines)


class _Lines(list):
    def __init__(self, on_line):
        super().__init__()
        self._on_line = on_line

    def append(self, line: str) -> None:
        super().append(line)
        if self._on_line is not None:
            self._on_line(line)
