"""The fibrosis sample sets the course notebooks open, per mode, so ``medai data prepare`` (run by
``make lab``) can generate them once before a class instead of inside the first lesson.

Each entry repeats the call a notebook makes with its default parameters (``SEED = 0``); a test runs every
notebook in quick mode and then checks that preparing the quick sets creates nothing the notebooks did not
use (tests/test_notebooks.py). Keep the two in step when a notebook's sizes change.
"""
from __future__ import annotations


def sample_sets(quick: bool) -> list:
    """One zero-argument function per cached sample set (each finds the cache or generates the set)."""
    from medai_lib.fibrosis import load_fibrosis_cohort

    # 2.1 (overview), then 2.2 and 2.3 (training and evaluation)
    sets = [(40, 128), (300, 64)] if quick else [(120, 256), (1000, 224)]
    return [lambda n=n, s=s: load_fibrosis_cohort(n, image_size=s, random_state=0) for n, s in sets]

