"""The report measures a sleep physician reads beside the AHI, against hand-worked nights and the
generator's ground truth (each true event's body position and sleep stage)."""
import numpy as np
import pandas as pd
import pytest

from medai_lib.apnea import make_night
from medai_lib.apnea import SAMPLING_RATES
from medai_lib.apnea import score_night
from medai_lib.apnea.report import (
    event_indices,
    night_report,
    sampling_rate_check,
    summarize_oximetry,
    summarize_sleep,
)
from medai_lib.errors import MedaiInputError


def test_sleep_architecture_follows_the_aasm_definitions():
    # 10 min awake, sleep, 5 min awake in the night, REM 20 min after sleep onset, 2 min awake at the end
    hyp = ["W"] * 20 + ["N1"] * 4 + ["N2"] * 36 + ["W"] * 10 + ["N2"] * 10 + ["R"] * 20 + ["W"] * 4
    s = summarize_sleep(hyp)
    assert s.staged
    assert s.sleep_latency_min == 10.0
    assert s.rem_latency_min == (4 + 36 + 10 + 10) / 2  # from sleep onset, wake inside it included
    assert s.waso_min == (10 + 4) / 2                    # wake after sleep onset up to lights on
    assert s.total_sleep_time_h == pytest.approx((4 + 36 + 10 + 20) / 120, abs=1e-4)
    assert s.sleep_efficiency == pytest.approx(70 / 104)
    assert s.stage_minutes["R"] == 10.0


def test_sleep_summary_of_a_night_matches_its_total_sleep_time():
    night = make_night(hours=2.0, random_state=3, channels=("spo2",))
    s = summarize_sleep(night.hypnogram, recording_s=night.duration_s)
    assert s.total_sleep_time_h == pytest.approx(night.total_sleep_time_h, abs=1e-4)
    assert s.recording_h == pytest.approx(2.0)


def test_without_a_hypnogram_sleep_measures_are_absent_not_invented():
    s = summarize_sleep(None, recording_s=7200)
    assert not s.staged and s.recording_h == 2.0
    assert s.total_sleep_time_h is None and s.waso_min is None and s.sleep_latency_min is None
    assert "no hypnogram" in s.table()["total sleep time (h)"]
    # a hypnogram that is all "unscored" is no staging either
    assert not summarize_sleep(["?"] * 10).staged
    with pytest.raises(MedaiInputError, match="recording_s"):
        summarize_sleep(None)


def test_oximetry_nadir_t90_and_hypoxic_burden():
    fs = 1.0
    x = np.full(3600, 96.0)
    onsets = np.arange(100, 3400, 300.0)
    for on in onsets:  # a 4% fall lasting 30 s, starting 20 s after each 20-s event ends
        x[int(on + 40):int(on + 70)] = 92.0
    x[1000:1004] = 70.0  # a moving probe: an impossible 26% fall in a second, not a nadir
    x[1992:2000] = np.linspace(96, 88, 9)[1:]  # a fall of 1%/s ...
    x[2000:2120] = 88.0                        # ... to two minutes at 88%
    x[2120:2128] = np.linspace(88, 96, 9)[1:]
    x[3000:3030] = 0.0   # probe off: ignored
    events = pd.DataFrame({"onset_s": onsets, "duration_s": 20.0})
    s = summarize_oximetry(x, fs, events=events)
    assert s.nadir_pct == 88.0
    assert s.t90_min == pytest.approx((2 + 120 + 1) / 60)  # 89, 88 on the way down, 2 min at 88%, 89 back up
    assert s.baseline_pct == 96.0
    hours = (3600 - 30) / 3600
    # each event: 4% below its pre-event baseline for 30 s = 2 %min (the artefact and the 88% stretch lie
    # outside the events' windows or are filtered out), per hour of valid recording
    assert s.hypoxic_burden == pytest.approx(len(onsets) * 4 * 0.5 / hours, rel=0.01)
    assert summarize_oximetry(x, fs).hypoxic_burden is None


def test_indices_by_position_and_stage_match_the_generator():
    night = make_night(hours=3.0, target_ahi=30, covariates={"supine_pref": 0.5}, random_state=5,
                       channels=("position",))
    ev = night.events[night.events["scored"]].reset_index(drop=True)
    table = event_indices(ev, night.total_sleep_time_h, position=night.signals["position"],
                          hypnogram=night.hypnogram)
    assert table.loc["apnea-hypopnea index", "per_hour"] == pytest.approx(night.true_ahi)
    n_central = int((ev["type"] == "central_apnea").sum())
    assert table.loc["central apnea index", "events"] == n_central
    # the generator records each event's position and stage at its onset
    assert table.loc["supine AHI", "events"] == pytest.approx((ev["position"] == "supine").sum(), abs=1)
    assert table.loc["REM AHI", "events"] == pytest.approx((ev["stage"] == "R").sum(), abs=1)
    stage_sec = np.repeat(night.hypnogram, 30)
    assert table.loc["REM AHI", "hours"] == pytest.approx((stage_sec == "R").sum() / 3600)
    supine_sleep = (night.signals["position"][: len(stage_sec)] == 0) & np.isin(stage_sec, ["N1", "N2", "N3", "R"])
    assert table.loc["supine AHI", "hours"] == pytest.approx(supine_sleep.sum() / 3600)
    # without a hypnogram or position channel there are no such rows, rather than invented ones
    home = event_indices(ev, 3.0)
    assert "REM AHI" not in home.index and "supine AHI" not in home.index
    with pytest.raises(MedaiInputError, match="hours"):
        event_indices(ev, 0.0)


def test_sampling_rates_against_the_aasm_specifications():
    # the synthetic montage: EEG and SpO2 below the AASM minimums (as SHHS stored SpO2 at 1 Hz), position meets it
    table = sampling_rate_check(SAMPLING_RATES)
    assert table.loc["spo2", "aasm_minimum_hz"] == 10 and table.loc["spo2", "aasm_desirable_hz"] == 25
    assert table.loc["eeg", "aasm_minimum_hz"] == 200
    assert not table.loc["spo2", "meets_minimum"] and not table.loc["eeg", "meets_minimum"]
    assert table.loc["position", "meets_minimum"]
    assert sampling_rate_check({"spo2": 10.0, "flow": 100.0})["meets_minimum"].all()
    assert sampling_rate_check({"temperature": 1.0}).empty


def test_night_report_psg_and_home_test():
    night = make_night(hours=1.5, target_ahi=25, random_state=8)
    result = score_night(night)
    report = night_report(night, result)
    assert report.loc["AHI (per hour of sleep)", "value"] == pytest.approx(result.ahi)
    assert report.loc["central apnea index", "value"] == pytest.approx(result.index("central_apnea"))
    assert report.loc["total sleep time", "value"] == pytest.approx(night.total_sleep_time_h)
    # the AHI's denominator: total sleep time less the time without a flow signal, which the report shows
    lost_min = report.loc["time without a flow signal (left out of the index)", "value"]
    assert lost_min == pytest.approx(result.flow_lost_s / 60)
    assert result.ahi == pytest.approx(len(result.events) / (night.total_sleep_time_h - lost_min / 60))
    assert 50 < report.loc["SpO2 nadir", "value"] <= report.loc["SpO2 baseline (median)", "value"] <= 100
    assert report.loc["hypoxic burden", "value"] > 0
    home = night_report(night, score_night(night, home_test=True))
    assert "REI (per hour of monitoring time)" in home.index and "AHI (per hour of sleep)" not in home.index
    assert np.isnan(home.loc["total sleep time", "value"]) and np.isnan(home.loc["arousal index", "value"])
    assert "supine REI" in home.index and "REM AHI" not in home.index


def test_stage_and_position_indices_leave_out_the_time_without_flow():
    # a noisy night on which the cannula comes off four times
    night = make_night(hours=3.0, target_ahi=20, config="noisy", random_state=4)
    result = score_night(night)
    assert result.flow_lost_s > 120 and len(result.flow_lost_intervals) >= 1
    idx = event_indices(result.events, result.hours, position=night.signals["position"], hypnogram=night.hypnogram,
                        excluded=result.flow_lost_intervals)
    # the scorer's own denominator (total sleep less the lost time) splits exactly into REM + NREM and into
    # supine + non-supine sleep
    assert idx.loc["REM AHI", "hours"] + idx.loc["NREM AHI", "hours"] == pytest.approx(result.hours, abs=1e-6)
    assert idx.loc["supine AHI", "hours"] + idx.loc["non-supine AHI", "hours"] == pytest.approx(result.hours, abs=1e-6)
    assert idx.loc["REM AHI", "events"] + idx.loc["NREM AHI", "events"] == len(result.events)
    whole = event_indices(result.events, result.hours, hypnogram=night.hypnogram)
    assert whole.loc["REM AHI", "hours"] + whole.loc["NREM AHI", "hours"] == pytest.approx(night.total_sleep_time_h)
    report = night_report(night, result)
    assert report.loc["REM AHI", "value"] == pytest.approx(idx.loc["REM AHI", "per_hour"])
    # beside each index, the minutes it is based on: REM sleep with a flow signal, counted from the hypnogram
    stage_sec = np.repeat(night.hypnogram, 30)
    lost = np.zeros(len(stage_sec), bool)
    for a, b in result.flow_lost_intervals:
        lost[int(a):int(np.ceil(b))] = True
    assert report.loc["REM sleep time", "value"] == pytest.approx(((stage_sec == "R") & ~lost).sum() / 60)
    assert report.loc["supine sleep time", "unit"] == "min"
    with pytest.raises(MedaiInputError, match="excluded"):
        event_indices(result.events, result.hours, excluded=[1.0, 2.0])


def test_rule_effect_by_subgroup_matches_a_groupby():
    from medai_lib.apnea import make_sleep_cohort
    from medai_lib.apnea.rules import rule_effect_by_subgroup

    subjects = make_sleep_cohort(30, hours=1.0, random_state=4).subjects
    rng = np.random.default_rng(0)
    a3 = rng.uniform(0, 40, len(subjects))
    a4 = a3 * rng.uniform(0.4, 1.0, len(subjects))
    table = rule_effect_by_subgroup(a3, a4, subjects)
    df = subjects.assign(a3=a3, a4=a4, drop=100 * (1 - a4 / a3))
    for name, sel in (("women", df["sex"] == "F"), ("age >= 50", df["age"] >= 50), ("BMI < 30", df["bmi"] < 30)):
        assert table.loc[name, "n"] == sel.sum()
        assert table.loc[name, "ahi_4"] == pytest.approx(df.loc[sel, "a4"].mean())
        assert table.loc[name, "drop_pct"] == pytest.approx(df.loc[sel, "drop"].mean())
    assert table.loc["women", "n"] + table.loc["men", "n"] == len(subjects)
    with pytest.raises(MedaiInputError, match="bmi"):
        rule_effect_by_subgroup(a3, a4, subjects.drop(columns="bmi"))
