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
    from medai_lib.apnea import make_minute_dataset, make_sleep_cohort, make_sleep_cohort_files, score_cohort

    scoring_channels = ("flow", "thorax", "abdomen", "spo2", "eeg", "emg")

    def minutes(n: int, hours: float, **options):
        return lambda: make_minute_dataset(make_sleep_cohort(n, hours=hours, random_state=0), **options)

    def scores(n: int, hours: float):
        return lambda: score_cohort(make_sleep_cohort(n, hours=hours, random_state=0, channels=scoring_channels))

    # 3.1 opens one night as EDF+; 3.3 (minutes with windows and ECG) and 3.4 (features only) cut their
    # cohort into minutes, and both score the same nights with the rule-based scorer (in full mode 3.3 and
    # 3.4 share one cohort of 40 nights, so one table of scores). 3.2 simulates its few nights in memory.
    learn, forecast = ((10, 2.0), (12, 5.0)) if quick else ((40, 8.0), (40, 8.0))
    sets = [lambda: make_sleep_cohort_files(1, hours=1.5 if quick else 8.0, random_state=0),
            minutes(*learn), minutes(*forecast, windows=False, with_ecg=False), scores(*learn)]
    if forecast != learn:
        sets.append(scores(*forecast))
    # lab03 (same sizes in both modes): features of 8 short nights, then windows without the ECG
    sets += [minutes(8, 1.5, windows=False), minutes(8, 1.5, with_ecg=False)]
    return sets


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
