"""Forecasting events against persistence, and questionnaire screening against the recording."""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from medai_lib.apnea import (
    FORECAST_FEATURES, evaluate_forecast, fit_forecaster, make_forecast_table, make_minute_dataset,
    make_sleep_cohort, screening_table, stop_bang_like, subject_split,
)
from medai_lib.errors import MedaiInputError


def _toy(labels, sid="a", stage="N2"):
    n = len(labels)
    return pd.DataFrame({"subject_id": sid, "minute": np.arange(n), "label": labels, "stage": stage, "position": 0,
                         "spo2_drop": 1.0, "flow_below_70": 0.0})


def test_forecast_table_by_hand():
    lab = [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    ft = make_forecast_table(_toy(lab), horizon_min=2, history_min=3)
    # rows for t = 2 .. 9 (full 3-minute history, 2-minute horizon)
    assert ft["minute"].tolist() == list(range(2, 10))
    assert ft["target"].tolist() == [0, 0, 0, 1, 1, 0, 0, 0]
    assert ft["persistence"].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0, 0, 1 / 3, 1 / 3, 1 / 3])
    assert ft["minutes_since_event"].tolist()[:3] == [0, 1, 2]
    assert set(FORECAST_FEATURES) <= set(ft.columns)


def test_forecast_table_errors():
    t = _toy([0, 1] * 10)
    with pytest.raises(MedaiInputError, match="missing columns \\['stage'\\]"):
        make_forecast_table(t.drop(columns="stage"))
    with pytest.raises(MedaiInputError, match="consecutive"):
        make_forecast_table(t.iloc[::-1])
    with pytest.raises(MedaiInputError, match="horizon_min"):
        make_forecast_table(t, horizon_min=0)


@pytest.fixture(scope="module")
def forecast_split():
    # whole nights: stage and position effects need REM and changes of position to show
    ds = make_minute_dataset(make_sleep_cohort(16, hours=6.0, random_state=11), windows=False, with_ecg=False)
    ft = make_forecast_table(ds.table, horizon_min=5, history_min=10)
    tr, te = subject_split(ft["subject_id"], test_size=0.4, random_state=0)
    return ft.iloc[tr], ft.iloc[te]


def test_forecast_beats_persistence(forecast_split):
    train, test = forecast_split
    res = evaluate_forecast(fit_forecaster(train), test, horizon_min=5, n_bootstrap=100)
    assert res.auc_persistence == pytest.approx(roc_auc_score(test["target"], test["persistence"]))
    assert res.auc_model == pytest.approx(roc_auc_score(test["target"], res.scores["model"]))
    assert res.comparison.difference == pytest.approx(res.auc_model - res.auc_persistence)
    assert res.beats_persistence and res.auc_model > 0.75
    assert res.subject_ci[0] <= res.comparison.difference <= res.subject_ci[1]


def test_stop_bang_items():
    s = pd.DataFrame({"snoring": [True, False], "hypertension": [False, True], "bmi": [36.0, 35.0],
                      "age": [40.0, 51.0], "neck_cm": [42.0, 40.0], "sex": ["M", "F"]})
    out = stop_bang_like(s)
    assert out["score"].tolist() == [4, 2]  # thresholds are strict (> 35, > 50, > 40)
    with pytest.raises(MedaiInputError, match="neck_cm"):
        stop_bang_like(s.drop(columns="neck_cm"))


def test_screening_table_against_counts():
    rng = np.random.default_rng(0)
    score = rng.integers(0, 7, 200)
    ahi = np.exp(rng.normal(2 + 0.3 * score, 0.8))
    tab = screening_table(score, ahi, ahi_cutoff=15)
    pos, dis = score >= 3, ahi >= 15
    assert tab.loc[3, "sensitivity"] == pytest.approx((pos & dis).sum() / dis.sum())
    assert tab.loc[3, "npv"] == pytest.approx((~pos & ~dis).sum() / (~pos).sum())
    assert tab.loc[3, "missed"] == (~pos & dis).sum()
    # a higher cut-off is never more sensitive
    assert np.all(np.diff(tab["sensitivity"].to_numpy()) <= 1e-12)
    assert (tab["sensitivity_low"] <= tab["sensitivity"]).all()


def test_questionnaire_tracks_severity_but_misses_cases():
    c = make_sleep_cohort(400, hours=1.0, random_state=0)
    score = stop_bang_like(c.subjects)["score"]
    tab = screening_table(score, c.subjects["target_ahi"], ahi_cutoff=15)
    auc = roc_auc_score(c.subjects["target_ahi"] >= 15, score)
    # published STOP-BANG: AUC about 0.7-0.8 and sensitivity about 0.9 at >= 3 of 8 (Chung 2008)
    assert 0.65 < auc < 0.9
    assert tab.loc[3, "sensitivity"] > 0.75 and tab.loc[3, "specificity"] < 0.7


def test_beats_persistence_trusts_the_subject_interval_over_delong(forecast_split):
    import dataclasses

    train, test = forecast_split
    res = evaluate_forecast(fit_forecaster(train), test, horizon_min=5)
    assert res.subject_ci is None and res.beats_persistence == (res.comparison.ci_low > 0)
    # DeLong treats minutes as independent; when resampling subjects puts zero inside the interval, the
    # model has not shown it beats persistence.
    spanning = dataclasses.replace(res, subject_ci=(-0.01, res.comparison.difference + 0.05))
    assert res.comparison.ci_low > 0 and not spanning.beats_persistence
    assert dataclasses.replace(res, subject_ci=(0.001, 0.1)).beats_persistence


def test_forecast_summary_states_the_numbers_and_the_verdict(forecast_split):
    import dataclasses

    train, test = forecast_split
    res = evaluate_forecast(fit_forecaster(train), test, n_bootstrap=200, random_state=0)
    text = res.summary()
    assert f"model {res.auc_model:.3f}" in text and f"persistence {res.auc_persistence:.3f}" in text
    assert f"{res.subject_ci[0]:+.3f} to {res.subject_ci[1]:+.3f} resampling patients" in text
    assert text.endswith("the model beats persistence") == res.beats_persistence
    assert "interval includes zero" in dataclasses.replace(res, subject_ci=(-0.01, 0.1)).summary()
