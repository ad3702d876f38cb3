"""Per-minute labels, features, R-peaks and windows, checked against the generator's ground truth."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from medai_lib.apnea import (
    ECG_CHANNELS, FEATURE_COLUMNS, RESP_CHANNELS, detect_r_peaks, ecg_derived_signals, make_minute_dataset,
    make_night, make_sleep_cohort, minute_features, minute_labels, minute_oracle, minute_windows,
)
from medai_lib.apnea.features import minute_stages, night_minutes
from medai_lib.errors import MedaiInputError

CH = ("ecg", "flow", "thorax", "abdomen", "spo2", "position")


@pytest.fixture(scope="module")
def night():
    return make_night(hours=1.0, target_ahi=30, channels=CH, random_state=5)


@pytest.fixture(scope="module")
def dataset():
    return make_minute_dataset(make_sleep_cohort(3, hours=1.0, random_state=2))


def test_minute_labels_by_hand():
    ev = pd.DataFrame({"onset_s": [50.0, 130.0, 300.0], "duration_s": [20.0, 12.0, 15.0],
                       "scored": [True, True, False]})
    # 50-70 s covers minute 0 by 10 s and minute 1 by 10 s; 130-142 s minute 2; the third is not scored
    assert minute_labels(ev, 6).tolist() == [1, 1, 1, 0, 0, 0]
    assert minute_labels(ev, 6, column=None).tolist() == [1, 1, 1, 0, 0, 1]
    assert minute_labels(ev, 6, min_overlap_s=15).tolist() == [0, 0, 0, 0, 0, 0]


def test_minute_labels_match_event_midpoints(night):
    n_min = int(night.duration_s // 60)
    lab = minute_labels(night.events, n_min)
    scored = night.events[night.events["scored"]]
    mid_minutes = ((scored["onset_s"] + scored["duration_s"] / 2) // 60).astype(int)
    assert lab[mid_minutes[mid_minutes < n_min]].all()
    assert lab.sum() >= len(np.unique(mid_minutes))


def test_minute_oracle_by_hand():
    ev = pd.DataFrame({"onset_s": [50.0, 62.0, 200.0], "duration_s": [20.0, 30.0, 3.0],
                       "p_annotated": [0.5, 0.5, 0.9]})
    # minute 0: first event (10 s); minute 1: both (10 s and 30 s); minute 3: 3 s only, below 5 s
    np.testing.assert_allclose(minute_oracle(ev, 4), [0.5, 0.75, 0.0, 0.0])
    with pytest.raises(MedaiInputError, match="p_annotated"):
        minute_oracle(ev.drop(columns="p_annotated"), 4)
    with pytest.raises(MedaiInputError, match="n_minutes"):
        minute_oracle(ev, 0)


def test_labels_are_the_reference_annotation_and_the_oracle_is_calibrated():
    # per-minute labels come from the reference scorer's annotation, not from the rule on the latent values
    night = make_night(hours=3.0, target_ahi=30, channels=("flow", "thorax", "abdomen", "spo2"),
                       random_state=8)
    table, _, _ = night_minutes(night, windows=False)
    n_min = len(table)
    np.testing.assert_array_equal(table["label"], minute_labels(night.events, n_min, column="annotated"))
    np.testing.assert_allclose(table["oracle"], minute_oracle(night.events, n_min))
    assert (table["label"] != minute_labels(night.events, n_min)).any()
    # the oracle is P(label | latent events): calibrated, below perfect, far above chance
    ds = make_minute_dataset(make_sleep_cohort(8, hours=3.0, random_state=3), windows=False, with_ecg=False)
    y, o = ds.labels, ds.table["oracle"].to_numpy()
    assert abs(y.mean() - o.mean()) < 0.03
    for lo, hi in ((0.0, 0.05), (0.2, 0.8), (0.9, 1.0)):
        sel = (o > lo) & (o <= hi) if lo else o <= hi
        assert abs(y[sel].mean() - o[sel].mean()) < 0.08, (lo, hi)
    assert ((o > 0.2) & (o < 0.8)).mean() > 0.03
    assert 0.9 <= roc_auc_score(y, o) <= 0.985
    assert roc_auc_score(y, o) > roc_auc_score(y, ds.table["flow_below_70"]) + 0.03


def test_minute_stages():
    assert minute_stages(np.array(["W", "N1", "N2", "N2", "R", "R"]), 4).tolist() == ["W", "N2", "R", "?"]


def test_r_peaks_match_generated_heart_rate(night):
    fs = night.sfreq["ecg"]
    peaks = detect_r_peaks(night.signals["ecg"], fs)
    rr = np.diff(peaks) / fs
    # physiological rhythm, no missed or doubled beats: the generator's rate is 64 bpm +- stage shifts
    assert 50 < 60 / np.median(rr) < 80
    assert ((rr > 0.5) & (rr < 1.5)).mean() > 0.99
    # peaks sit on local maxima of the ECG
    x = night.signals["ecg"]
    assert np.all(x[peaks[1:-1]] >= x[peaks[1:-1] - 2]) and np.all(x[peaks[1:-1]] >= x[peaks[1:-1] + 2])


def test_ecg_derived_signals_length_and_range(night):
    d = ecg_derived_signals(night.signals["ecg"], night.sfreq["ecg"])
    assert set(d) == set(ECG_CHANNELS)
    assert len(d["rr"]) == int(night.duration_s * 4)
    assert 0.6 < np.median(d["rr"]) < 1.3


def test_features_separate_event_minutes(night):
    f = minute_features(night.signals, night.sfreq)
    assert list(f.columns) == list(FEATURE_COLUMNS)
    lab = minute_labels(night.events, len(f))
    assert 0.1 < lab.mean() < 0.9
    # reduced flow and a desaturation in the next minute: both mark apnea minutes (ground truth)
    assert roc_auc_score(lab, f["flow_below_70"]) > 0.85
    assert roc_auc_score(lab, f["spo2_drop_next"]) > 0.7
    # the heart speeds up after an event (tachycardia at the terminal arousal)
    assert roc_auc_score(lab, f["hr_range"]) > 0.7


def test_ecg_only_features(night):
    f = minute_features(night.signals, night.sfreq, channels=("ecg",))
    assert list(f.columns) == ["hr_mean", "hr_std", "hr_range", "rmssd_ms", "hr_rise_next"]


def test_windows_shape_and_content(night):
    w = minute_windows(night.signals, night.sfreq, channels=RESP_CHANNELS, rate=8.0, context_min=1)
    assert w.shape == (60, 4, 3 * 60 * 8)
    # the centre of window m is minute m: SpO2 channel equals (spo2 - 95) / 5 at 8 Hz
    spo2 = night.signals["spo2"]
    np.testing.assert_allclose(w[10, 3, 480:960:8], (spo2[600:660] - 95) / 5, atol=1e-5)
    # neighbouring windows overlap by two minutes
    np.testing.assert_allclose(w[10, :, 480:], w[11, :, :960])


def test_dataset(dataset):
    assert dataset.resp.shape[0] == dataset.ecg.shape[0] == len(dataset.table) == 180
    assert dataset.ecg.shape[1:] == (2, 5 * 60 * 4)
    assert set(dataset.subjects["subject_id"]) == set(dataset.groups)
    assert np.isfinite(dataset.features.to_numpy()).all()
    assert set(dataset.table["label"]) <= {0, 1}
    # sleep minutes are those of the hypnogram
    assert dataset.table.loc[dataset.table["stage"] == "W", "sleep"].eq(False).all()


def test_bad_input(night):
    sig = dict(night.signals)
    del sig["spo2"]
    with pytest.raises(MedaiInputError, match="missing channels \\['spo2'\\]"):
        minute_windows(sig, night.sfreq)
    with pytest.raises(MedaiInputError, match="at least 50"):
        minute_features(night.signals, {**night.sfreq, "ecg": 20.0})
    with pytest.raises(MedaiInputError, match="both effort belts"):
        minute_features(night.signals, night.sfreq, channels=("thorax",))
    short = {k: v[: int(night.sfreq[k] * 100)] for k, v in night.signals.items()}
    with pytest.raises(MedaiInputError, match="less than 3 minutes"):
        minute_windows(short, night.sfreq)
    with pytest.raises(MedaiInputError, match="onset_s"):
        minute_labels(pd.DataFrame({"start": [1.0]}), 3)
    with pytest.raises(TypeError, match="SleepCohort"):
        make_minute_dataset([night])


def test_dataset_without_windows_or_ecg():
    ds = make_minute_dataset(make_sleep_cohort(2, hours=0.5, random_state=2), windows=False, with_ecg=False)
    assert ds.resp.shape == (60, 0, 0) and ds.ecg.shape == (60, 0, 0)
    assert "hr_mean" not in ds.table.columns and "flow_below_70" in ds.table.columns
