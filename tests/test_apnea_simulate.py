"""Realism of the synthetic polysomnography nights, checked against physiology and the ground truth."""
import numpy as np
import pandas as pd
import pytest
from scipy import signal, stats

from medai_lib.apnea import (
    REFERENCE_SCORER,
    SEVERITY_CUTOFFS,
    make_benchmark_cohort,
    make_night,
    make_sleep_cohort,
    reference_annotation_probability,
    severity_class,
)
from medai_lib.errors import MedaiInputError


@pytest.fixture(scope="module")
def night():
    return make_night(hours=8.0, target_ahi=25.0, covariates={"central_fraction": 0.3, "age": 40},
                      random_state=7)


def _epochs(x, fs, epoch_s=30.0):
    per = int(fs * epoch_s)
    n = len(x) // per
    return np.asarray(x[: n * per]).reshape(n, per)


def _isolated(events, before=60.0, after=60.0):
    on = events["onset_s"].to_numpy()
    end = on + events["duration_s"].to_numpy()
    prev_end = np.r_[-np.inf, end[:-1]]
    next_on = np.r_[on[1:], np.inf]
    return events[(on - prev_end > before) & (next_on - end > after)]


def test_same_seed_same_night_and_channel_subsets_agree():
    a = make_night(hours=0.5, target_ahi=30, random_state=3)
    b = make_night(hours=0.5, target_ahi=30, random_state=3)
    c = make_night(hours=0.5, target_ahi=30, random_state=4)
    sub = make_night(hours=0.5, target_ahi=30, random_state=3, channels=("spo2", "thorax"))
    assert all(np.array_equal(a.signals[k], b.signals[k]) for k in a.signals)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert not np.array_equal(a.signals["eeg"], c.signals["eeg"])
    assert set(sub.signals) == {"spo2", "thorax"}
    assert np.array_equal(sub.signals["thorax"], a.signals["thorax"])
    pd.testing.assert_frame_equal(sub.events, a.events)


def test_channel_rates_and_lengths(night):
    assert night.sfreq["eeg"] == 100 and night.sfreq["flow"] == 32 and night.sfreq["spo2"] == 1
    for ch, x in night.signals.items():
        assert len(x) == int(night.duration_s * night.sfreq[ch]), ch
        assert x.dtype == np.float32 and not x.flags.writeable


def test_stage_proportions_and_cycle_structure():
    fractions, early_n3, late_n3, early_r, late_r, efficiency = [], [], [], [], [], []
    for seed in range(6):
        hyp = make_night(hours=8.0, target_ahi=5.0, covariates={"age": 45}, channels=("position",),
                         random_state=seed).hypnogram
        sleep = hyp[hyp != "W"]
        fractions.append({s: np.mean(sleep == s) for s in ("N1", "N2", "N3", "R")})
        third = len(hyp) // 3
        early_n3.append(np.sum(hyp[:third] == "N3"))
        late_n3.append(np.sum(hyp[-third:] == "N3"))
        early_r.append(np.sum(hyp[: len(hyp) // 2] == "R"))
        late_r.append(np.sum(hyp[len(hyp) // 2:] == "R"))
        efficiency.append(len(sleep) / len(hyp))
    f = pd.DataFrame(fractions).mean()
    # adult norms (e.g. Ohayon et al. 2004 meta-analysis): N1 ~5%, N2 ~50%, N3 ~15-20%, REM ~20-25%
    assert 0.02 < f["N1"] < 0.15 and 0.40 < f["N2"] < 0.65 and 0.07 < f["N3"] < 0.30 and 0.15 < f["R"] < 0.30
    assert np.mean(early_n3) > 3 * np.mean(late_n3)  # slow-wave sleep early in the night
    assert np.mean(late_r) > 1.5 * np.mean(early_r)  # REM later in the night
    assert 0.75 < np.mean(efficiency) < 0.97


def test_eeg_band_powers_per_stage(night):
    ep = _epochs(night.signals["eeg"], 100.0)
    f, p = signal.welch(ep, fs=100.0, nperseg=400, axis=-1)
    hyp = night.hypnogram[: len(ep)]

    def band(lo, hi, stage):
        return p[hyp == stage][:, (f >= lo) & (f < hi)].sum(axis=1).mean()

    delta = {s: band(0.5, 2.0, s) for s in ("W", "N1", "N2", "N3", "R")}
    assert delta["N3"] > 2 * delta["N2"] > 2 * delta["N1"]
    assert delta["N3"] > 4 * max(delta["W"], delta["R"])
    rel_alpha = {s: band(8, 12, s) / band(0.5, 30, s) for s in delta}
    assert rel_alpha["W"] > 2 * max(rel_alpha[s] for s in ("N1", "N2", "N3", "R"))
    sigma = {s: band(12, 14.5, s) for s in delta}
    assert sigma["N2"] > 1.5 * sigma["N1"] and sigma["N2"] > 1.5 * sigma["R"]  # spindles
    total = {s: band(0.5, 30, s) for s in delta}
    assert total["R"] < 0.5 * total["N2"]  # REM: low-voltage mixed frequency


def test_rem_atonia_and_rapid_eye_movements(night):
    emg_rms = np.sqrt((_epochs(night.signals["emg"], 100.0) ** 2).mean(axis=1))
    hyp = night.hypnogram[: len(emg_rms)]
    rem = np.median(emg_rms[hyp == "R"])
    for stage in ("N1", "N2", "N3", "W"):
        assert rem < 0.5 * np.median(emg_rms[hyp == stage]), stage
    eog = np.asarray(night.signals["eog"])
    sec = eog[: len(eog) // 50 * 50].reshape(-1, 50)
    big = np.ptp(sec, axis=1) > 100
    stage_sec = np.repeat(night.hypnogram, 30)[: len(big)]
    assert big[stage_sec == "R"].mean() > 3 * big[stage_sec == "N2"].mean()


def _clear_of_artefacts(night, events, margin=90.0):
    art = night.artefacts
    a_on = art["onset_s"].to_numpy() - margin
    a_end = art["onset_s"].to_numpy() + art["duration_s"].to_numpy() + margin
    on = events["onset_s"].to_numpy()
    end = on + events["duration_s"].to_numpy()
    hit = (a_on[None, :] < end[:, None]) & (a_end[None, :] > on[:, None])
    return events[~hit.any(axis=1)]


def _measured_lags(night, min_desat=4.0):
    spo2 = np.asarray(night.signals["spo2"], float)
    ev = _clear_of_artefacts(night, _isolated(night.events[night.events["desat_pct"] >= min_desat]))
    out = []
    for e in ev.itertuples():
        end = e.onset_s + e.duration_s
        window = spo2[int(end): int(end) + 55]
        out.append((np.argmin(window), e.desat_lag_s))
    return np.array(out).reshape(-1, 2)


def test_desaturation_lags_event_end_by_15_to_40_s(night):
    lags = _measured_lags(night)
    assert len(lags) >= 10
    # the SpO2 nadir sits where the ground truth puts it (oximeter noise and spontaneous dips aside)
    err = np.abs(lags[:, 0] - lags[:, 1])
    assert np.median(err) <= 3 and np.mean(err <= 6) >= 0.8
    assert np.percentile(lags[:, 0], 10) >= 12 and np.percentile(lags[:, 0], 90) <= 42
    assert 15 <= np.median(lags[:, 0]) <= 35


def test_subjects_differ_in_desaturation_lag_and_depth():
    # each subject has its own circulation time (lag) and desaturation per event (e.g. lung volume)
    cohort = make_sleep_cohort(8, hours=4.0, channels=("spo2",), near_cutoff_fraction=0.0, random_state=5)
    rows = []
    for n in cohort:
        lags = _measured_lags(n, min_desat=3.0)
        ev = n.events[n.events["flow_drop"] >= 0.9]
        rows.append({"lag_true": n.covariates["desat_lag_mean_s"], "gain": n.covariates["desat_gain"],
                     "lag_measured": np.median(lags[:, 0]) if len(lags) >= 3 else np.nan,
                     "apnea_desat": ev["desat_pct"].median() if len(ev) >= 3 else np.nan})
    df = pd.DataFrame(rows).dropna()
    assert len(df) >= 5
    assert df["lag_true"].max() - df["lag_true"].min() > 5
    assert stats.spearmanr(df["lag_true"], df["lag_measured"])[0] > 0.6
    # desaturation of complete apneas varies several-fold between subjects, with their gain
    assert df["apnea_desat"].max() > 1.8 * df["apnea_desat"].min()
    assert stats.spearmanr(df["gain"], df["apnea_desat"])[0] > 0.6


def test_event_physiology_straddles_the_definition():
    ev = pd.concat([make_night(hours=8.0, target_ahi=a, channels=("position",), random_state=s).events
                    for a, s in ((10, 1), (25, 2), (40, 3))])
    hyp = ev[ev["type"] == "hypopnea"]
    # graded depths: a continuum from shallow flow limitation to complete obstruction
    assert hyp["flow_drop"].min() < 0.2 and hyp["flow_drop"].max() > 0.85
    assert 0.1 <= hyp["flow_drop"].between(0.22, 0.38).mean() <= 0.45
    assert ev["flow_drop"].between(0.85, 0.95).mean() > 0.03  # apnea or hypopnea: near the 90% line
    assert 0.1 <= ev["desat_pct"].between(2.0, 4.0).mean() <= 0.45
    assert (ev["desat_pct"] < 2).mean() > 0.1 and (ev["desat_pct"] > 8).mean() > 0.05
    assert 0.02 <= (ev["duration_s"] < 10).mean() <= 0.15
    # the rule on the latent values and the reference scorer mostly agree, but not on borderline events
    p = ev["p_annotated"]
    assert 0.15 <= p.between(0.2, 0.8).mean() <= 0.5
    assert ev.loc[ev["scored"], "annotated"].mean() > 0.65
    assert ev.loc[~ev["scored"], "annotated"].mean() < 0.3
    assert (ev["annotated_4pct"] <= ev["annotated"]).all() and (ev["p_annotated_4pct"] <= p + 1e-12).all()
    apneas = ev[ev["type"] != "hypopnea"]
    assert (apneas["p_annotated"] > 0.8).mean() > 0.75


def test_reference_annotation_is_calibrated():
    ev = pd.concat([make_night(hours=8.0, target_ahi=30, channels=("position",), random_state=s).events
                    for s in range(4)])
    bins = pd.cut(ev["p_annotated"], [0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0], include_lowest=True)
    g = ev.groupby(bins, observed=True).agg(p=("p_annotated", "mean"), seen=("annotated", "mean"),
                                            n=("annotated", "size"))
    g = g[g["n"] >= 30]
    assert len(g) >= 4
    se = np.sqrt(g["p"] * (1 - g["p"]) / g["n"])
    assert (np.abs(g["seen"] - g["p"]) <= 3 * se + 0.02).all(), g


def test_reference_annotation_probability_by_hand():
    ev = pd.DataFrame({"duration_s": [25.0, 25.0, 25.0, 9.0], "flow_drop": [1.0, 0.5, 0.5, 1.0],
                       "desat_pct": [0.0, 3.0, 8.0, 8.0], "arousal": [False, False, False, True]})
    p = reference_annotation_probability(ev)
    lapse = REFERENCE_SCORER["lapse"]
    assert 0.85 < p[0] <= 1 - lapse  # apnea: no desaturation needed
    assert 0.4 * (1 - lapse) < p[1] < 0.6 * (1 - lapse)  # exactly on the 3% line
    assert p[2] > p[1] and p[3] < 0.5
    p4 = reference_annotation_probability(ev, rule="4")
    assert (p4 <= p + 1e-12).all() and p4[1] < p[1]
    stricter = reference_annotation_probability(ev, scorer={"desat_offset_pct": 1.0})
    assert stricter[1] < p[1]
    with pytest.raises(MedaiInputError, match="rule"):
        reference_annotation_probability(ev, rule="5")
    with pytest.raises(MedaiInputError, match="unknown keys"):
        reference_annotation_probability(ev, scorer={"strictness": 1.0})
    with pytest.raises(MedaiInputError, match="desat_pct"):
        reference_annotation_probability(ev.drop(columns="desat_pct"))


def test_sensor_artefacts(night):
    art = night.artefacts
    assert set(art["kind"]) <= {"cannula_off", "mouth_breathing", "probe_motion", "probe_off"}
    # a realistic share of the night has a degraded flow or SpO2 signal (a few % to ~20%)
    cohort = make_sleep_cohort(12, hours=8.0, channels=("position",), random_state=3)
    frac = [n.artefacts.loc[n.artefacts["channel"] == "flow", "duration_s"].sum() / n.duration_s
            for n in cohort]
    assert 0.02 <= np.mean(frac) <= 0.2 and max(frac) > 2 * np.median(frac)  # some subjects much worse
    flow, th, spo2 = (np.asarray(night.signals[c], float) for c in ("flow", "thorax", "spo2"))
    fs = 32.0

    def sd(x, a, b):
        return x[int(a * fs): int(b * fs)].std()

    for a in art.itertuples():
        mid0, mid1 = a.onset_s + 0.3 * a.duration_s, a.onset_s + 0.7 * a.duration_s
        if a.kind == "cannula_off":
            assert sd(flow, mid0, mid1) < 0.2 * sd(flow, a.onset_s - 200, a.onset_s - 20)
            assert sd(th, mid0, mid1) > 0.5 * sd(th, a.onset_s - 200, a.onset_s - 20)  # breathing goes on
        elif a.kind == "probe_off":
            assert (spo2[int(a.onset_s) + 1: int(a.onset_s + a.duration_s) - 1] == 0).all()
        elif a.kind == "probe_motion":
            assert spo2[int(a.onset_s): int(a.onset_s + a.duration_s) + 1].min() < 88
    mouth = art[art["kind"] == "mouth_breathing"]
    assert len(mouth) >= 1
    ratios = [sd(flow, a.onset_s + 20, a.onset_s + a.duration_s - 20)
              / sd(flow, a.onset_s - 200, a.onset_s - 20) for a in mouth.itertuples()]
    assert np.median(ratios) < 0.8
    clean = make_night(hours=2.0, target_ahi=10, config="clean", channels=("position",), random_state=1)
    assert clean.artefacts.empty


@pytest.mark.filterwarnings("ignore:some peaks have a prominence of 0")  # flat probe-off stretches
def test_non_event_disturbances(night):
    # SpO2 dips of >= 3% away from every respiratory event (spontaneous, REM hypoventilation) exist
    spo2 = np.asarray(night.signals["spo2"], float)
    ev = night.events
    busy = np.zeros(len(spo2), bool)
    for e in ev.itertuples():
        busy[max(int(e.onset_s) - 30, 0): int(e.onset_s + e.duration_s + e.desat_lag_s) + 40] = True
    for a in night.artefacts[night.artefacts["channel"] == "spo2"].itertuples():
        busy[max(int(a.onset_s) - 10, 0): int(a.onset_s + a.duration_s) + 10] = True
    smooth = pd.Series(spo2).rolling(5, center=True, min_periods=1).median().to_numpy()
    peaks, props = signal.find_peaks(-smooth, prominence=3.0, wlen=120)
    free = peaks[~busy[peaks]]
    assert len(free) >= 2
    # flow reductions that do not qualify: shallow (< 30%) flow limitation, often ending in an arousal (RERA)
    shallow = ev[ev["flow_drop"] < 0.3]
    assert len(shallow) >= 5 and shallow["arousal"].mean() > 0.25 and not shallow["scored"].any()
    # REM breathing is irregular, without any event: breath amplitude varies more than in N2
    calm = make_night(hours=8.0, target_ahi=0.0, config="clean", channels=("flow",), random_state=4)
    flow = np.asarray(calm.signals["flow"], float)
    env = pd.Series(np.abs(flow)).rolling(160, center=True).max().to_numpy()[::32]
    stage = np.repeat(calm.hypnogram, 30)[: len(env)]
    quiet = np.ones(len(env), bool)
    for e in calm.events.itertuples():
        quiet[max(int(e.onset_s) - 20, 0): int(e.onset_s + e.duration_s) + 30] = False
    cv = {s: np.nanstd(env[quiet & (stage == s)]) / np.nanmean(env[quiet & (stage == s)])
          for s in ("N2", "R")}
    assert cv["R"] > 1.2 * cv["N2"]


def test_paradoxical_effort_only_in_obstructive_events(night):
    th, ab = np.asarray(night.signals["thorax"]), np.asarray(night.signals["abdomen"])
    fs = 32.0

    def corr(e):
        a = int((e.onset_s + 0.2 * e.duration_s) * fs)
        b = int((e.onset_s + 0.8 * e.duration_s) * fs)
        return np.corrcoef(th[a:b], ab[a:b])[0, 1]

    def effort_ratio(e):
        a, b = int((e.onset_s + 0.2 * e.duration_s) * fs), int((e.onset_s + 0.8 * e.duration_s) * fs)
        pre = th[int((e.onset_s - 40) * fs): int((e.onset_s - 5) * fs)]
        return th[a:b].std() / pre.std()

    ev = night.events[night.events["duration_s"] >= 10]
    obstructive = ev[ev["type"] == "obstructive_apnea"]
    hypopneas = ev[ev["type"] == "hypopnea"]
    central = _isolated(ev[ev["type"] == "central_apnea"], before=45, after=0)
    assert len(obstructive) >= 10 and len(hypopneas) >= 10 and len(central) >= 3
    assert np.mean([corr(e) < 0 for e in obstructive.itertuples()]) > 0.9
    assert np.mean([corr(e) < 0 for e in hypopneas.itertuples()]) < 0.05
    assert max(effort_ratio(e) for e in central.itertuples()) < 0.2  # no effort in central apnea
    quiet = np.ones(len(th), bool)  # normal breathing away from events: belts in phase
    for e in night.events.itertuples():
        quiet[int((e.onset_s - 30) * fs): int((e.onset_s + e.duration_s + 40) * fs)] = False
    assert np.corrcoef(th[quiet], ab[quiet])[0, 1] > 0.8


def test_events_follow_stage_position_and_end_in_arousals(night):
    ev = night.events
    assert ev["stage"].isin(["N1", "N2", "N3", "R"]).all()
    hyp = night.hypnogram
    hours = {s: np.sum(hyp == s) / 120 for s in ("N2", "R")}
    rate = {s: np.sum(ev["stage"] == s) / hours[s] for s in hours}
    assert rate["R"] > 1.3 * rate["N2"]
    pos = np.asarray(night.signals["position"])[ev["onset_s"].astype(int)]
    assert set(np.unique(pos)) <= {0, 1, 2, 3}
    # about 10-60 s, some close to the 10-s rule
    assert ev["duration_s"].between(6, 70).all() and ev["duration_s"].between(10, 12).sum() >= 3
    resp = night.arousals[night.arousals["cause"] == "respiratory"]
    ends = (ev["onset_s"] + ev["duration_s"])[ev["arousal"]].to_numpy()
    assert len(resp) == len(ends)
    assert np.all(np.abs(np.sort(resp["onset_s"].to_numpy()) - np.sort(ends)) < 3)
    # amplitudes straddle the thresholds
    hyp_ev = ev[ev["type"] == "hypopnea"]
    assert hyp_ev["flow_drop"].between(0.25, 0.35).any() and hyp_ev["flow_drop"].between(0.8, 0.9).any()
    assert ev["desat_pct"].between(2.5, 3.5).sum() >= 3


def test_true_ahi_is_the_scored_event_rate(night):
    expected = night.events["scored"].sum() / night.total_sleep_time_h
    assert night.true_ahi == pytest.approx(expected)
    assert night.true_ahi_4pct <= night.true_ahi
    assert abs(night.true_ahi - 25.0) < 3
    # the human reference AHI: annotated events; close to the rule's count, not equal to it
    assert night.reference_ahi == pytest.approx(night.events["annotated"].sum() / night.total_sleep_time_h)
    assert night.reference_ahi != night.true_ahi and abs(night.reference_ahi - night.true_ahi) < 6


def test_heart_rate_cycles_with_events(night):
    ecg = np.asarray(night.signals["ecg"])
    fs = 128.0
    peaks, _ = signal.find_peaks(ecg, height=0.5, distance=int(0.35 * fs))
    t = peaks[1:] / fs
    hr = 60.0 / np.diff(peaks / fs)
    during, after = [], []
    for e in night.events[night.events["arousal"] & (night.events["duration_s"] > 15)].itertuples():
        end = e.onset_s + e.duration_s
        during.append(hr[(t > end - 8) & (t < end)].mean())
        after.append(hr[(t > end + 1) & (t < end + 9)].mean())
    assert np.nanmean(np.array(after) - np.array(during)) > 5


def test_covariates_are_linked_to_severity():
    subjects = make_sleep_cohort(400, near_cutoff_fraction=0.0, random_state=1).subjects
    ahi = subjects["target_ahi"]
    assert stats.spearmanr(subjects["bmi"], ahi)[0] > 0.2
    assert stats.spearmanr(subjects["neck_cm"], ahi)[0] > 0.2
    assert ahi[subjects["sex"] == "M"].median() > ahi[subjects["sex"] == "F"].median()
    for flag in ("snoring", "hypertension"):
        with_flag = subjects.loc[subjects[flag], "target_ahi"].median()
        assert with_flag > subjects.loc[~subjects[flag], "target_ahi"].median(), flag
    assert set(severity_class(ahi.to_numpy())) == {"normal", "mild", "moderate", "severe"}


def test_benchmark_cohort_has_many_subjects_near_a_cutoff():
    cohort = make_benchmark_cohort(channels=("position",))
    true_ahi = np.array([n.true_ahi for n in cohort])
    near = np.min(np.abs(true_ahi[:, None] - np.array(SEVERITY_CUTOFFS)[None, :]), axis=1) <= 2
    assert near.mean() >= 0.3


def test_severity_class_boundaries():
    assert list(severity_class(np.array([0, 4.99, 5, 14.99, 15, 29.99, 30]))) == [
        "normal", "normal", "mild", "mild", "moderate", "moderate", "severe"]


@pytest.mark.parametrize("kwargs, match", [
    ({"hours": 20}, "hours"),
    ({"target_ahi": -1}, "target_ahi"),
    ({"channels": ("flow", "eeg2")}, "eeg2"),
    ({"config": "loud"}, "config"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(MedaiInputError, match=match):
        make_night(**kwargs)
    if "config" in kwargs:
        with pytest.raises(MedaiInputError, match="config"):
            make_sleep_cohort(2, config="loud")
