"""The cached sample cohorts the course notebooks open, per track and mode, so ``make lab`` (``medai data
prepare``) can generate them once before a class instead of inside the first lesson.

Each entry repeats the call a notebook makes with its default parameters (``SEED = 0``); a test runs every
notebook in quick mode and then checks that preparing the quick sets creates nothing the notebooks did not
use (tests/test_notebooks.py). Keep the two in step when a notebook's sizes change.
"""
from __future__ import annotations

import time


def _fibrosis(quick: bool) -> list:
    from medai_lib.fibrosis import load_fibrosis_cohort

    # 2.1 (overview), then 2.2 and 2.3 (training and evaluation)
    sets = [(40, 128), (300, 64)] if quick else [(120, 256), (1000, 224)]
    return [lambda n=n, s=s: load_fibrosis_cohort(n, image_size=s, random_state=0) for n, s in sets]


def _apnea(quick: bool) -> list:
    from medai_lib.apnea import make_sleep_cohort_files

    # 3.1 opens one night as EDF+ (3.2 to 3.4 simulate their nights in memory, a second or two each)
    return [lambda: make_sleep_cohort_files(1, hours=1.5 if quick else 8.0, random_state=0)]


def _cancer(quick: bool) -> list:
    from medai_lib.cancer import make_cancer_cohort_files

    # 4.1 to 4.4 and lab04 share one cohort per mode
    n, chromosomes = (1500, 4) if quick else (5000, 10)
    return [lambda: make_cancer_cohort_files(n, n_chromosomes=chromosomes, random_state=0)]


TRACKS = {"fibrosis": _fibrosis, "apnea": _apnea, "cancer": _cancer}


def prepare_track(track: str, *, quick: bool = False) -> str:
    """Generate (or find cached) every sample set of ``track``; return a line saying what was done."""
    start = time.perf_counter()
    makers = TRACKS[track](quick)
    for make in makers:
        make()
    return f"{len(makers)} sample set(s) ready ({'quick' if quick else 'full'} mode, {time.perf_counter() - start:.0f} s)"
