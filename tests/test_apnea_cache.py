"""The apnea track's disk cache: minute datasets and cohort scores load identical to what is computed,
are keyed by every parameter, and are never used for a cohort whose generation parameters are unknown."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from medai_lib.apnea import make_minute_dataset, make_sleep_cohort, score_cohort, score_night
from medai_lib.apnea._store import load_frame, save_frame


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "medai-data"
    monkeypatch.setenv("MEDAI_DATA", str(root))
    return root


def _entries(root, name):
    return sorted(p.name for p in root.glob(f"{name}-*") if (p / ".complete").exists()) if root.exists() else []


def _assert_same_dataset(a, b):
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True, check_column_type=True,
                                  check_index_type=True)
    pd.testing.assert_frame_equal(a.subjects, b.subjects, check_exact=True, check_column_type=True,
                                  check_index_type=True)
    assert list(a.table.dtypes) == list(b.table.dtypes)
    assert list(a.subjects.dtypes) == list(b.subjects.dtypes)
    for x, y in ((a.resp, b.resp), (a.ecg, b.ecg)):
        assert type(x) is type(y) is np.ndarray
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)
    assert (a.rate, a.ecg_rate, a.context_min, a.ecg_context_min) == (b.rate, b.ecg_rate, b.context_min,
                                                                      b.ecg_context_min)


@pytest.mark.parametrize("options", [{}, {"windows": False, "with_ecg": False}], ids=["windows", "features"])
def test_minute_dataset_loads_identical_to_computed(cache_root, options):
    cohort = make_sleep_cohort(3, hours=0.5, random_state=0)
    computed = make_minute_dataset(cohort, cache=False, **options)
    assert _entries(cache_root, "apnea_minute_dataset") == []
    cold = make_minute_dataset(cohort, **options)
    (entry,) = _entries(cache_root, "apnea_minute_dataset")
    warm = make_minute_dataset(make_sleep_cohort(3, hours=0.5, random_state=0), **options)
    assert _entries(cache_root, "apnea_minute_dataset") == [entry]
    _assert_same_dataset(computed, cold)
    _assert_same_dataset(computed, warm)
    assert warm.resp.flags.writeable and warm.table["label"].dtype == np.int8
    params = json.loads((cache_root / entry / "params.json").read_text())["params"]
    assert params["cohort"]["random_state"] == 0 and params["cohort"]["hours"] == 0.5
    assert params["windows"] is options.get("windows", True)


def test_warm_dataset_is_read_not_recomputed(cache_root, monkeypatch):
    from medai_lib.apnea import features

    cohort = make_sleep_cohort(2, hours=0.5, random_state=1)
    make_minute_dataset(cohort, windows=False)

    def boom(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(features, "_compute_minute_dataset", boom)
    make_minute_dataset(cohort, windows=False)  # read from the cache
    with pytest.raises(AssertionError, match="recomputed"):
        make_minute_dataset(cohort, windows=False, context_min=2)  # another key


@pytest.mark.parametrize("change", [{"random_state": 1}, {"hours": 1.0}, {"n_subjects": 4},
                                    {"config": "noisy"}, {"near_cutoff_fraction": 0.0}])
def test_each_cohort_parameter_gives_its_own_entry(cache_root, change):
    base = {"n_subjects": 3, "hours": 0.5, "random_state": 0}
    make_minute_dataset(make_sleep_cohort(base.pop("n_subjects"), **base), windows=False, with_ecg=False)
    kwargs = {"n_subjects": 3, "hours": 0.5, "random_state": 0, **change}
    other = make_sleep_cohort(kwargs.pop("n_subjects"), **kwargs)
    make_minute_dataset(other, windows=False, with_ecg=False)
    assert len(_entries(cache_root, "apnea_minute_dataset")) == 2


def test_dataset_options_give_their_own_entries(cache_root):
    cohort = make_sleep_cohort(2, hours=0.5, random_state=0)
    make_minute_dataset(cohort, windows=False, with_ecg=False)
    make_minute_dataset(cohort, windows=False, with_ecg=True)
    make_minute_dataset(cohort, windows=False, with_ecg=False, rate=4.0)
    assert len(_entries(cache_root, "apnea_minute_dataset")) == 3


def test_changed_or_handmade_cohorts_are_not_cached(cache_root):
    cohort = make_sleep_cohort(3, hours=0.5, random_state=0)
    assert cohort.generation["n_subjects"] == 3
    # changed after drawing: a subset, other hours, edited subjects, a Generator seed, a hand-built cohort
    subset = dataclasses.replace(cohort, subjects=cohort.subjects.iloc[:2].reset_index(drop=True))
    longer = dataclasses.replace(cohort, hours=1.0)
    edited = make_sleep_cohort(3, hours=0.5, random_state=0)
    edited.subjects.loc[0, "target_ahi"] = 60.0
    from_rng = make_sleep_cohort(3, hours=0.5, random_state=np.random.default_rng(0))
    unseeded = make_sleep_cohort(3, hours=0.5)
    handmade = type(cohort)(subjects=cohort.subjects.copy(), hours=0.5, config=cohort.config)
    for c in (subset, longer, edited, from_rng, unseeded, handmade):
        assert c.generation is None
        make_minute_dataset(c, windows=False, with_ecg=False)
        score_cohort(c)
    assert _entries(cache_root, "apnea_minute_dataset") == []
    assert _entries(cache_root, "apnea_cohort_scores") == []
    # the edited cohort's dataset reflects the edit (no stale entry of the original draw is read)
    make_minute_dataset(cohort, windows=False, with_ecg=False)
    original = make_minute_dataset(cohort, windows=False, with_ecg=False)
    changed = make_minute_dataset(edited, windows=False, with_ecg=False)
    assert changed.subjects.loc[0, "target_ahi"] == 60.0 != original.subjects.loc[0, "target_ahi"]
    # cache=False neither reads nor writes
    make_minute_dataset(make_sleep_cohort(2, hours=0.5, random_state=5), windows=False, cache=False)
    assert len(_entries(cache_root, "apnea_minute_dataset")) == 1


def test_cohort_scores_match_score_night_and_are_cached(cache_root):
    channels = ("flow", "thorax", "abdomen", "spo2", "eeg", "emg")
    cohort = make_sleep_cohort(3, hours=0.5, random_state=0, channels=channels)
    computed = score_cohort(cohort, cache=False)
    cold = score_cohort(cohort)
    warm = score_cohort(make_sleep_cohort(3, hours=0.5, random_state=0, channels=channels))
    for table in (cold, warm):
        pd.testing.assert_frame_equal(computed, table, check_exact=True, check_column_type=True)
    assert list(computed["ahi"]) == [score_night(n).ahi for n in cohort]
    assert list(computed["reference_ahi"]) == [n.reference_ahi for n in cohort]
    assert len(_entries(cache_root, "apnea_cohort_scores")) == 1
    score_cohort(cohort, hypopnea_rule="4")
    score_cohort(cohort, use_hypnogram=False)
    score_cohort(make_sleep_cohort(3, hours=0.5, random_state=0))  # other channels
    assert len(_entries(cache_root, "apnea_cohort_scores")) == 4


def test_frame_storage_round_trips_strings_with_missing_values(tmp_path):
    df = pd.DataFrame({"s": ["a", None, "ccc"], "o": pd.Series(["x", "y", "z"], dtype=object),
                       "b": [True, False, True], "i8": np.array([1, 0, 1], np.int8), "f": [0.5, np.nan, 2.0]})
    save_frame(df, tmp_path, "t")
    pd.testing.assert_frame_equal(df, load_frame(tmp_path, "t"), check_exact=True)
    with pytest.raises(Exception, match="default index"):
        save_frame(df.set_index("s"), tmp_path, "u")


def test_entries_of_older_code_are_replaced_not_piled_up(cache_root, monkeypatch):
    from medai_lib.apnea import _store

    make_minute_dataset(make_sleep_cohort(2, hours=0.5, random_state=0), windows=False)
    make_minute_dataset(make_sleep_cohort(2, hours=0.5, random_state=1), windows=False)
    (old_0, old_1) = sorted(_entries(cache_root, "apnea_minute_dataset"),
                            key=lambda e: json.loads((cache_root / e / "params.json").read_text())["params"]
                            ["cohort"]["random_state"])
    monkeypatch.setattr(_store, "code_digest", lambda *modules: "edited-code")  # the library was edited
    make_minute_dataset(make_sleep_cohort(2, hours=0.5, random_state=0), windows=False)
    entries = _entries(cache_root, "apnea_minute_dataset")
    assert old_0 not in entries and old_1 in entries and len(entries) == 2
