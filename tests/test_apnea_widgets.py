"""The PSG browser and scoring-rule explorer, driven headless; what they show equals the library."""
import numpy as np
import pytest

from medai_lib.apnea import apply_scoring_rule, make_night, rule_comparison, score_night
from medai_lib.apnea.widgets import PSGBrowser, ScoringRuleExplorer
from medai_lib.errors import MedaiInputError


@pytest.fixture(scope="module")
def night():
    return make_night(hours=1.0, target_ahi=30, random_state=3,
                      channels=("flow", "thorax", "abdomen", "spo2", "eeg", "emg"))


def test_rule_reproduces_generator_truth(night):
    h = night.total_sleep_time_h
    assert apply_scoring_rule(night.events, h).ahi == pytest.approx(night.true_ahi)
    assert apply_scoring_rule(night.events, h, desat_pct=4.0, use_arousal=False).ahi == pytest.approx(
        night.true_ahi_4pct)
    tab = rule_comparison(night.events, h)
    assert tab["ahi"].is_monotonic_decreasing or tab.loc["4% only (CMS)", "ahi"] <= tab.iloc[0]["ahi"]
    with pytest.raises(MedaiInputError, match="flow_drop"):
        apply_scoring_rule(night.events.drop(columns="flow_drop"), h)
    with pytest.raises(MedaiInputError, match="hours"):
        apply_scoring_rule(night.events, 0.0)


def test_rule_explorer(night):
    ex = ScoringRuleExplorer(night.events, night.total_sleep_time_h)
    assert ex.displayed["ahi"] == pytest.approx(night.true_ahi)
    ex.rule.value = "4% only (CMS)"
    assert (ex.desat_slider.value, ex.arousal_box.value) == (4.0, False)
    assert ex.displayed["ahi"] == pytest.approx(night.true_ahi_4pct)
    ex.flow_slider.value = 0.5
    assert ex.rule.value == "custom"
    ref = apply_scoring_rule(night.events, night.total_sleep_time_h, desat_pct=4.0, use_arousal=False,
                             min_flow_drop=0.5)
    assert ex.displayed["ahi"] == pytest.approx(ref.ahi) and ex.displayed["severity"] == ref.severity
    assert f"AHI {ref.ahi:.1f}" in ex.displayed["caption"]
    assert ex.image.value[:4] == b"\x89PNG"
    assert ex.snapshot().data == ex.image.value  # the static picture is the view on screen


def test_psg_browser(night):
    scored = score_night(night).events
    b = PSGBrowser(night, scored_events=scored, window_s=120)
    ev = night.events[night.events["scored"]]
    start = float(np.floor(ev["onset_s"].iloc[0] / 60) * 60)
    b.slider.value = start
    d = b.displayed
    sel = (ev["onset_s"] < start + 120) & (ev["onset_s"] + ev["duration_s"] > start)
    sel_s = (scored["onset_s"] < start + 120) & (scored["onset_s"] + scored["duration_s"] > start)
    assert d["start_s"] == start and d["n_true"] == sel.sum() >= 1 and d["n_scored"] == sel_s.sum()
    assert d["stage"] in ("N1", "N2", "N3", "R")
    b.channel_select.value = ("flow", "spo2")
    assert b.displayed["channels"] == ("flow", "spo2")
    assert b.image.value[:4] == b"\x89PNG"
    with pytest.raises(MedaiInputError, match="not in the recording"):
        PSGBrowser(night, channels=("ecg",))


def test_psg_browser_without_a_hypnogram_and_its_static_snapshot(night):
    import dataclasses

    unstaged = dataclasses.replace(night, hypnogram=np.array([], dtype="<U2"))
    b = PSGBrowser(unstaged, window_s=120)
    assert b.displayed["stage"] == "?" and "no sleep staging" in b.displayed["caption"]
    snap = b.snapshot()
    assert snap.data == b.image.value and snap.data[:4] == b"\x89PNG"
    assert "image/png" in snap._repr_mimebundle_()[0]


def test_spo2_axis_is_fixed_not_autoscaled():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from medai_lib.apnea.plotting import set_spo2_axis

    _, ax = plt.subplots()
    set_spo2_axis(ax, 96.5 + 0.5 * np.sin(np.arange(120)))  # 96-97%: noise, not a desaturation
    assert ax.get_ylim() == (85.0, 100.5)
    set_spo2_axis(ax, np.r_[np.full(60, 95.0), np.full(10, 78.0), np.zeros(5)])  # probe-off zeros ignored
    assert ax.get_ylim() == (76.0, 100.5)
    plt.close("all")


def test_flow_reductions_find_true_events(night):
    from medai_lib.apnea import flow_amplitude_ratio, flow_reductions

    r = flow_amplitude_ratio(night.signals["flow"], night.sfreq["flow"])
    found = flow_reductions(r, 4.0)
    truth = night.events[night.events["scored"]]
    mid = truth["onset_s"] + truth["duration_s"] / 2
    hit = [((found["onset_s"] <= m) & (found["onset_s"] + found["duration_s"] >= m)).any() for m in mid]
    assert np.mean(hit) > 0.8  # most scored events show as >= 10 s of flow below 70% of baseline
    assert flow_reductions(np.r_[np.ones(10), np.zeros(39), np.ones(10)], 4.0).empty  # 9.75 s is too short
