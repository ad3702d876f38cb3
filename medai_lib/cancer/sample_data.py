"""The cancer sample sets the course notebooks open, per mode, so ``medai data prepare`` (run by
``make lab``) can generate them once before a class instead of inside the first lesson.

Each entry repeats the call a notebook makes with its default parameters (``SEED = 0``); a test runs every
notebook in quick mode and then checks that preparing the quick sets creates nothing the notebooks did not
use (tests/test_notebooks.py). Keep the two in step when a notebook's sizes change.
"""
from __future__ import annotations


def sample_sets(quick: bool) -> list:
    """One zero-argument function per cached sample set (each finds the cache or generates the set)."""
    from medai_lib.cancer import make_cancer_cohort_files

    # 4.1 to 4.4 and lab04 share one cohort per mode
    n, chromosomes = (1500, 4) if quick else (5000, 10)
    return [lambda: make_cancer_cohort_files(n, n_chromosomes=chromosomes, random_state=0)]

