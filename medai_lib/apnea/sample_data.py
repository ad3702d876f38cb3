"""The apnea sample sets the course notebooks open, per mode, so ``medai data prepare`` (run by
``make lab``) can generate them once before a class instead of inside the first lesson.

Each entry repeats the call a notebook makes with its default parameters (``SEED = 0``); a test runs every
notebook in quick mode and then checks that preparing the quick sets creates nothing the notebooks did not
use (tests/test_notebooks.py). Keep the two in step when a notebook's sizes change.
"""
from __future__ import annotations


def sample_sets(quick: bool) -> list:
    """One zero-argument function per cached sample set (each finds the cache or generates the set)."""
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

