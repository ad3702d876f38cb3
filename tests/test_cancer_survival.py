"""Survival tools for the cancer track: Kaplan-Meier, Cox model, concordance, absolute risk and risk
communication, checked against hand calculations and known simulated hazards.
"""
from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest

from medai_lib.cancer.communicate import plot_icon_array, risk_message
from medai_lib.cancer.survival import (
    bootstrap_cox_models, check_survival, concordance, fit_cox_model, kaplan_meier_by_group,
    plot_kaplan_meier, prs_groups,
)
from medai_lib.errors import MedaiInputError

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def exponential_cohort():
    """Constant hazards (years since age 30): base 0.004/year, hazard ratio 2 for smoking, 1.5 per PRS SD."""
    rng = np.random.default_rng(0)
    n = 3000
    samples = pd.DataFrame({"sex": rng.choice(["male", "female"], n), "smoking": rng.integers(0, 2, n),
                            "family_history": rng.integers(0, 2, n)})
    prs = rng.normal(size=n)
    rate = 0.004 * np.exp(np.log(2.0) * samples["smoking"] + np.log(1.5) * prs)
    onset = 30 + rng.exponential(1 / rate)
    end = rng.uniform(50, 85, n)
    time = np.minimum(onset, end)
    event = (onset <= end).astype(int)
    return samples, prs, time, event


def test_check_survival_rejects_negative_times_and_bad_flags():
    with pytest.raises(MedaiInputError, match=r"'time' must be finite and >= 0.*row 1"):
        check_survival([3.0, -1.0], [1, 0])
    with pytest.raises(MedaiInputError, match=r"'event' must be 0/1 \(1 = cancer diagnosed"):
        check_survival([3.0, 4.0], [1, 2])
    with pytest.raises(MedaiInputError, match=r"'event' must be 0/1"):
        check_survival([3.0, 4.0], ["yes", "no"])


def test_kaplan_meier_matches_hand_calculation():
    time = [50, 55, 60, 60, 70, 75]
    event = [1, 0, 1, 1, 0, 1]
    km = kaplan_meier_by_group(time, event, ["g"] * 6)["g"]
    # at risk 6 -> one event at 50: 5/6; censor at 55; 4 at risk at 60 with 2 events: * 2/4; 75: 1 at risk
    expected = {50: 5 / 6, 60: 5 / 6 * 2 / 4, 75: 0.0}
    for t, s in expected.items():
        assert float(km.survival_function_at_times(t).iloc[0]) == pytest.approx(s)
    ax = plot_kaplan_meier(kaplan_meier_by_group(time, event, ["a", "a", "a", "b", "b", "b"]))
    assert len(ax.get_legend().get_texts()) == 2


def test_prs_groups_uses_reference_percentiles():
    labels = prs_groups(np.arange(100.0))
    assert (labels == "low (bottom 20%)").sum() == 20 and (labels == "high (top 20%)").sum() == 20
    assert prs_groups([1000.0], reference=np.arange(100.0))[0] == "high (top 20%)"


def test_cox_recovers_known_hazard_ratios(exponential_cohort):
    samples, prs, time, event = exponential_cohort
    model = fit_cox_model(samples, time=time, event=event, prs=prs)
    s = model.summary
    assert s.loc["smoking", "ci_low"] < 2.0 < s.loc["smoking", "ci_high"]
    hr_per_sd = 1.5 ** prs.std()
    assert s.loc["prs", "ci_low"] < hr_per_sd < s.loc["prs", "ci_high"]
    assert s.loc["sex", "ci_low"] < 1.0 < s.loc["sex", "ci_high"]


def test_absolute_risk_matches_the_generating_hazard(exponential_cohort):
    samples, prs, time, event = exponential_cohort
    model = fit_cox_model(samples, time=time, event=event, prs=prs)
    person = pd.DataFrame({"sex": ["female"] * 2, "smoking": [0, 1], "family_history": [0, 0], "age": [55, 55]})
    risk10 = model.absolute_risk(person, prs=[0.0, 0.0], years=10)
    truth10 = 1 - np.exp(-0.004 * np.array([1.0, 2.0]) * 10)
    np.testing.assert_allclose(risk10, truth10, rtol=0.25)
    by70 = model.absolute_risk(person, prs=[0.0, 0.0], by_age=70)
    np.testing.assert_allclose(by70, 1 - np.exp(-0.004 * np.array([1.0, 2.0]) * 40), rtol=0.25)
    assert np.all(by70 > risk10)


def _harrell(time, event, risk):
    concordant = ties = usable = 0
    for i, j in itertools.permutations(range(len(time)), 2):
        if event[i] and time[i] < time[j]:
            usable += 1
            concordant += risk[i] > risk[j]
            ties += risk[i] == risk[j]
    return (concordant + 0.5 * ties) / usable


def test_concordance_matches_brute_force_and_has_interval(exponential_cohort):
    rng = np.random.default_rng(1)
    time = rng.uniform(40, 80, 60)  # no tied times: the textbook pair definition applies
    event = rng.integers(0, 2, 60)
    risk = -time + rng.normal(0, 10, 60)
    c = concordance(time, event, risk, n_bootstrap=100)
    assert c.c_index == pytest.approx(_harrell(time, event, risk), abs=1e-9)
    assert c.ci_low < c.c_index < c.ci_high
    with pytest.raises(MedaiInputError, match="'risk_score' must be finite"):
        concordance(time, event, risk[:-1])


def test_bootstrap_models_spread_around_the_estimate(exponential_cohort):
    samples, prs, time, event = exponential_cohort
    part = slice(0, 800)
    models = bootstrap_cox_models(samples.iloc[part], time=time[part], event=event[part], prs=prs[part],
                                  n_bootstrap=8, random_state=0)
    person = pd.DataFrame({"sex": ["male"], "smoking": [1], "family_history": [0], "age": [60]})
    risks = np.array([m.absolute_risk(person, prs=[1.0])[0] for m in models])
    assert len(set(np.round(risks, 6))) == 8 and np.all((risks > 0) & (risks < 1))


# --- communication ----------------------------------------------------------------------------------------

def test_risk_message_never_says_most_will_not_when_most_will():
    low = risk_message(0.12, baseline=0.04, population=100).text
    high = risk_message(0.57, baseline=0.04, population=100).text
    assert "Most people with this risk (88 of 100) will not get this cancer" in low
    assert "will not get this cancer" not in high.splitlines()[-1]
    assert "most people (57 of 100) will be diagnosed" in high


def test_risk_message_counts_people():
    m = risk_message(0.12, baseline=0.04, population=100)
    assert (m.affected, m.baseline_affected, m.extra) == (12, 4, 8)
    assert m.relative_risk == pytest.approx(3.0)
    assert "about 8 more people out of 100" in m.text and "3.0 times" in m.text
    assert "88 will not" in m.text
    with pytest.raises(MedaiInputError, match=r"'risk' must be a probability in \[0, 1\]"):
        risk_message(7, baseline=0.1)


def test_icon_array_fills_the_right_number_of_icons():
    ax = plot_icon_array(0.12, baseline=0.04)
    sizes = [len(c.get_offsets()) for c in ax.collections]
    assert sizes == [4, 8, 88]


def test_numbers_at_risk_under_the_kaplan_meier_plot():
    import matplotlib

    matplotlib.use("Agg")
    from lifelines import KaplanMeierFitter

    from medai_lib.cancer import numbers_at_risk

    rng = np.random.default_rng(7)
    time = rng.uniform(30, 85, 300).round(1)
    event = rng.integers(0, 2, 300)
    groups = np.repeat(["low", "high"], 150)
    km = kaplan_meier_by_group(time, event, groups)
    ages = [40, 60, 80]
    table = numbers_at_risk(km, ages)
    for g in ("low", "high"):
        t, e = time[groups == g], event[groups == g]
        # lifelines' own event table: at risk at the first time point at or after each age
        ref = KaplanMeierFitter().fit(t, e).event_table
        for a in ages:
            first = ref.index[ref.index >= a][0]
            assert table.loc[(g, "at risk")][a] == ref.loc[first, "at_risk"] == np.sum(t >= a)
            assert table.loc[(g, "events so far")][a] == ref.loc[:a, "observed"].sum()
    ax = plot_kaplan_meier(km, at_risk=ages, xlim=(30, 85))
    texts = [t.get_text() for t in ax.texts]
    assert "low: at risk" in texts and f"{int(np.sum(time[groups == 'high'] >= 60)):,}" in texts
    assert ax.get_xlim() == (30, 85)


def _weibull_cohort(n, rng, *, hazard_scale=1.0):
    """Age at diagnosis from a Weibull baseline (shape 4, scale 110 years) times exp(0.7 PRS + 0.5 smoking),
    censored at a uniform age of 40 to 85."""
    prs = rng.normal(0, 1, n)
    smoking = rng.integers(0, 2, n)
    lp = 0.7 * prs + 0.5 * smoking + np.log(hazard_scale)
    onset = 110 * (rng.exponential(1, n) / np.exp(lp)) ** (1 / 4)
    censor = rng.uniform(40, 85, n)
    frame = pd.DataFrame({"smoking": smoking, "sex": "female", "family_history": 0})
    return frame, prs, np.minimum(onset, censor), (onset <= censor).astype(int)


def test_risk_at_a_multiple_of_the_average_is_not_the_median_risk():
    from medai_lib.cancer import risk_at_multiple_of_average

    rng = np.random.default_rng(11)
    frame, prs, time, event = _weibull_cohort(3000, rng)
    cox = fit_cox_model(frame, time=time, event=event, prs=prs, columns=("smoking",))
    person = {"sex": "female", "smoking": 0, "family_history": 0}
    pos = risk_at_multiple_of_average(cox, person, prs, multiple=1.5, years=10, age=50)
    # reference: lifelines' survival function, person by person, 1 - S(60) / S(50)
    x = pd.DataFrame({"prs": (prs - cox.prs_mean) / cox.prs_sd, "smoking": 0.0})[list(cox.columns)]
    sf = cox.fitter.predict_survival_function(x, times=[50.0, 60.0]).to_numpy()
    risks = 1 - sf[1] / sf[0]
    assert pos.average_risk == pytest.approx(risks.mean(), rel=1e-6)
    assert pos.average_risk > pos.median_risk * 1.05  # risk is convex in the score: mean above median
    grid = np.arange(1, 100)
    on_grid = cox.absolute_risk(pd.DataFrame([{**person, "age": 50.0}] * 99), prs=np.percentile(prs, grid), years=10)
    assert pos.percentile == grid[np.argmax(on_grid >= 1.5 * pos.average_risk)]
    assert on_grid[pos.percentile - 2] < pos.target_risk <= on_grid[pos.percentile - 1]
    assert risk_at_multiple_of_average(cox, person, prs, multiple=50).percentile is None
    with pytest.raises(MedaiInputError, match="no PRS term"):
        risk_at_multiple_of_average(fit_cox_model(frame, time=time, event=event, columns=("smoking",)), person, prs)


def _cox_on_weibull_cohort(seed):
    """A Cox model fitted on the first half of a 4,000-person Weibull cohort; the second half is held out."""
    frame, prs, time, event = _weibull_cohort(4000, np.random.default_rng(seed))
    fit = slice(0, 2000)
    cox = fit_cox_model(frame.iloc[fit], time=time[fit], event=event[fit], prs=prs[fit], columns=("smoking",))
    return cox, frame, prs, time, event, slice(2000, 4000)


def test_absolute_risk_calibration_observed_against_expected():
    from medai_lib.cancer import absolute_risk_calibration

    cox, frame, prs, time, event, held = _cox_on_weibull_cohort(12)
    rng = np.random.default_rng(112)
    table = absolute_risk_calibration(cox, frame.iloc[held], time=time[held], event=event[held], prs=prs[held],
                                      by_age=70)
    assert list(table.index) == ["1 of 5", "2 of 5", "3 of 5", "4 of 5", "5 of 5", "all"]
    assert table["n"].iloc[:5].sum() == 2000 and table.loc["all", "events"] == event[held].sum()
    assert np.all(np.diff(table["expected"].iloc[:5]) > 0)
    # the true risk by 70 from the generating Weibull model, averaged over the held-out people
    lp = 0.7 * prs[held] + 0.5 * frame["smoking"].to_numpy()[held]
    true = 1 - np.exp(-((70 / 110) ** 4) * np.exp(lp))
    assert table.loc["all", "expected"] == pytest.approx(true.mean(), rel=0.15)
    assert 0.8 < table.loc["all", "observed_to_expected"] < 1.25
    assert (table["observed_low"] <= table["observed"]).all() and (table["observed"] <= table["observed_high"]).all()
    # a population with twice the hazard: the model underestimates, observed / expected well above 1
    frame2, prs2, time2, event2 = _weibull_cohort(2000, rng, hazard_scale=2.0)
    high = absolute_risk_calibration(cox, frame2, time=time2, event=event2, prs=prs2, by_age=70)
    assert high.loc["all", "observed_to_expected"] > 1.4


def test_conditional_risk_calibration_for_people_cancer_free_at_50():
    """10-year risk from 50 among people cancer-free at 50, against the generating Weibull model."""
    from medai_lib.cancer import absolute_risk_calibration

    cox, frame, prs, time, event, held = _cox_on_weibull_cohort(13)
    t, e = time[held], event[held]
    rng = np.random.default_rng(113)
    table = absolute_risk_calibration(cox, frame.iloc[held], time=t, event=e, prs=prs[held], from_age=50,
                                      years=10)
    at_risk = t > 50
    assert table.loc["all", "n"] == at_risk.sum()
    assert table.loc["all", "events"] == int(((e == 1) & at_risk & (t <= 60)).sum())
    # true conditional risk 1 - S(60)/S(50) of the Weibull model, averaged over those cancer-free at 50
    lp = (0.7 * prs[held] + 0.5 * frame["smoking"].to_numpy()[held])[at_risk]
    true = 1 - np.exp(-(((60 / 110) ** 4) - (50 / 110) ** 4) * np.exp(lp))
    assert table.loc["all", "expected"] == pytest.approx(true.mean(), rel=0.2)
    assert table.loc["all", "oe_low"] < 1 < table.loc["all", "oe_high"]
    assert table.loc["all", "oe_low"] == pytest.approx(table.loc["all", "observed_low"] / table.loc["all", "expected"])
    # twice the hazard: observed / expected well above 1 in the conditional window too
    frame2, prs2, time2, event2 = _weibull_cohort(3000, rng, hazard_scale=2.0)
    high = absolute_risk_calibration(cox, frame2, time=time2, event=event2, prs=prs2, from_age=50, years=10)
    assert high.loc["all", "oe_low"] > 1.1
