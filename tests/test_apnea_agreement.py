"""Bland-Altman, correlation and weighted kappa against published values and independent code."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from medai_lib.apnea import agreement_summary, bland_altman, plot_bland_altman, severity_kappa
from medai_lib.errors import MedaiInputError

# Bland & Altman (1986, Lancet i:307-310), peak expiratory flow (l/min), first readings of 17 subjects.
WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
MINI = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


def test_bland_altman_reproduces_the_1986_example():
    ba = bland_altman(MINI, WRIGHT)  # Wright minus mini Wright, as in the paper
    assert ba.bias == pytest.approx(-2.1, abs=0.05)
    assert ba.sd == pytest.approx(38.8, abs=0.05)
    # the paper's 95% CI for the bias: -22.1 to 17.9
    assert ba.bias_ci[0] == pytest.approx(-22.1, abs=0.1) and ba.bias_ci[1] == pytest.approx(17.9, abs=0.1)
    assert ba.lower == pytest.approx(ba.bias - 1.96 * ba.sd)
    assert ba.upper == pytest.approx(ba.bias + 1.96 * ba.sd)
    # limits' CI: SE = sqrt(3 s^2 / n), t with n-1 df (Bland & Altman 1986, section 4)
    se = np.sqrt(3 * ba.sd**2 / 17)
    t = stats.t.ppf(0.975, 16)
    assert ba.upper_ci == pytest.approx((ba.upper - t * se, ba.upper + t * se))


def test_bias_ci_matches_one_sample_t_interval():
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 60, 50)
    mea = ref + rng.normal(0.5, 2.0, 50)
    ba = bland_altman(ref, mea, confidence=0.9)
    ci = stats.ttest_1samp(mea - ref, 0).confidence_interval(0.9)
    assert ba.bias_ci == pytest.approx((ci.low, ci.high))


def _weighted_kappa(a, b, k, power):
    """Textbook weighted kappa: 1 - sum(w * observed) / sum(w * expected)."""
    obs = np.zeros((k, k))
    for i, j in zip(a, b):
        obs[i, j] += 1
    obs /= obs.sum()
    exp = np.outer(obs.sum(1), obs.sum(0))
    w = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) ** power
    return 1 - (w * obs).sum() / (w * exp).sum()


@pytest.mark.parametrize("weights, power", [("linear", 1), ("quadratic", 2)])
def test_severity_kappa_matches_textbook_formula(weights, power):
    rng = np.random.default_rng(1)
    true = rng.uniform(0, 60, 80)
    measured = np.clip(true + rng.normal(0, 4, 80), 0, None)
    code = lambda x: np.searchsorted([5, 15, 30], x, side="right")  # noqa: E731
    expected = _weighted_kappa(code(true), code(measured), 4, power)
    assert severity_kappa(true, measured, weights=weights) == pytest.approx(expected)
    assert expected == pytest.approx(cohen_kappa_score(code(true), code(measured), weights=weights))


def test_agreement_summary():
    rng = np.random.default_rng(2)
    true = rng.uniform(0, 60, 40)
    measured = true + rng.normal(0, 1, 40)
    s = agreement_summary(true, measured)
    assert s.pearson_r == pytest.approx(stats.pearsonr(true, measured)[0])
    assert s.confusion.sum() == 40 and np.trace(s.confusion) >= 30
    assert s.kappa_quadratic >= s.kappa_linear - 0.05


def test_plot_returns_axes():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert plot_bland_altman(MINI, WRIGHT, ax=ax) is ax
    assert len(ax.lines) >= 3
    plt.close(fig)


def test_bad_input():
    with pytest.raises(MedaiInputError, match="equal length"):
        bland_altman([1, 2, 3], [1, 2])
    with pytest.raises(MedaiInputError, match="NaN"):
        bland_altman([1, 2, np.nan], [1, 2, 3])
    with pytest.raises(MedaiInputError, match="weights"):
        severity_kappa([1, 2, 3], [1, 2, 3], weights="cubic")
