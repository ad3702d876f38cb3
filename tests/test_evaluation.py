"""Tests of medai_lib.evaluation against scikit-learn, scipy, textbook values and slow reference formulas."""
import logging

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from scipy.stats import norm
from sklearn import metrics
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation import (
    ConfusionTable,
    IsotonicRecalibrator,
    PlattRecalibrator,
    auc_bootstrap,
    auc_delong,
    brier_score,
    calibration_slope_intercept,
    compare_aucs,
    confusion_table,
    decision_curve,
    delong_covariance,
    evaluate,
    expected_calibration_error,
    make_binormal,
    natural_frequencies,
    net_benefit,
    operating_point,
    pr_curve,
    predictive_values,
    reliability_curve,
    roc_curve,
    subgroup_table,
    table_metrics,
    threshold_metrics,
    wilson_interval,
)


@pytest.fixture(scope="module")
def data():
    """Two correlated models with tied (rounded) scores on 400 cases."""
    rng = np.random.default_rng(42)
    y = rng.integers(0, 2, 400)
    latent = y * 1.0 + rng.normal(size=400)
    a = np.round(expit(latent), 2)
    b = np.round(expit(0.6 * latent + rng.normal(scale=0.8, size=400)), 2)
    return y, a, b


def slow_delong(y, scores):
    """Textbook DeLong (1988) structural components, O(m n) with explicit pairwise comparisons."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    psi = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])
    v10 = psi.mean(axis=2)  # per diseased case
    v01 = psi.mean(axis=1)  # per healthy case
    aucs = psi.mean(axis=(1, 2))
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n


# ------------------------------------------------------------------------------------------- proportions
def test_wilson_matches_newcombe_1998():
    low, high = wilson_interval(81, 263)  # Newcombe, Stat Med 1998, example (a)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    low, high = wilson_interval(0, 10)  # example (f): 0 to 0.2775
    assert low == 0 and round(high, 4) == 0.2775


def test_wilson_bounds_invert_the_score_test():
    x, n = np.array([3, 17, 50, 99]), np.array([20, 40, 60, 100])
    low, high = wilson_interval(x, n, confidence=0.9)
    z = norm.ppf(0.95)
    for bound in (low, high):
        score = np.abs(x / n - bound) / np.sqrt(bound * (1 - bound) / n)
        np.testing.assert_allclose(score, z, rtol=1e-9)


def test_confusion_table_matches_sklearn(data):
    y, a, _ = data
    table = confusion_table(y, a, threshold=0.5)
    tn, fp, fn, tp = metrics.confusion_matrix(y, a >= 0.5).ravel()
    assert (table.tp, table.fp, table.fn, table.tn) == (tp, fp, fn, tn)
    assert confusion_table(y, (a >= 0.5).astype(int)) == table
    frame = table.to_frame()
    assert frame.loc["Total", "Total"] == 400 and frame.loc["Disease present", "Test positive"] == tp
    assert "true positives" in table._repr_html_()


def test_threshold_metrics_match_sklearn(data):
    y, a, _ = data
    df = threshold_metrics(y, a, threshold=0.4).set_index("metric")
    pred = a >= 0.4
    assert df.loc["sensitivity", "estimate"] == pytest.approx(metrics.recall_score(y, pred))
    assert df.loc["specificity", "estimate"] == pytest.approx(metrics.recall_score(1 - y, ~pred))
    assert df.loc["ppv", "estimate"] == pytest.approx(metrics.precision_score(y, pred))
    assert df.loc["npv", "estimate"] == pytest.approx(metrics.precision_score(1 - y, ~pred))
    assert df.loc["accuracy", "estimate"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert df.loc["f1", "estimate"] == pytest.approx(metrics.f1_score(y, pred))
    table = confusion_table(y, a, threshold=0.4)
    low, high = wilson_interval(table.tp, table.n_positive)
    assert (df.loc["sensitivity", "ci_low"], df.loc["sensitivity", "ci_high"]) == pytest.approx((low, high))
    assert df.loc["sensitivity", "n"] == table.n_positive
    assert df.loc["f1", "ci_low"] < df.loc["f1", "estimate"] < df.loc["f1", "ci_high"]
    assert list(df.columns) == ["estimate", "ci_low", "ci_high", "n", "method"]


def test_likelihood_ratio_log_method():
    t = ConfusionTable(tp=40, fp=20, fn=10, tn=80)
    df = table_metrics(t).set_index("metric")
    sens, spec = 40 / 50, 80 / 100
    se = np.sqrt(1 / 40 - 1 / 50 + 1 / 20 - 1 / 100)  # Simel et al. 1991
    lr = sens / (1 - spec)
    assert df.loc["lr_positive", "estimate"] == pytest.approx(4.0)
    assert df.loc["lr_positive", "ci_low"] == pytest.approx(lr * np.exp(-1.959964 * se), rel=1e-5)
    assert df.loc["lr_positive", "ci_high"] == pytest.approx(lr * np.exp(1.959964 * se), rel=1e-5)
    assert df.loc["lr_negative", "estimate"] == pytest.approx((1 - sens) / spec)
    # a zero cell: estimate infinite, interval from the 0.5-corrected counts
    df0 = table_metrics(ConfusionTable(tp=10, fp=0, fn=2, tn=30)).set_index("metric")
    assert np.isinf(df0.loc["lr_positive", "estimate"]) and np.isfinite(df0.loc["lr_positive", "ci_low"])


def test_f1_interval_is_a_stratified_bootstrap():
    t = ConfusionTable(tp=30, fp=15, fn=20, tn=135)
    f1 = table_metrics(t, n_bootstrap=4000, random_state=1).set_index("metric").loc["f1"]
    rng = np.random.default_rng(2)  # explicit resampling of the cases, as a reference
    y = np.array([1] * 50 + [0] * 150)
    pred = np.array([1] * 30 + [0] * 20 + [1] * 15 + [0] * 135)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    reps = []
    for _ in range(1000):
        idx = np.concatenate([rng.choice(pos, 50), rng.choice(neg, 150)])
        reps.append(metrics.f1_score(y[idx], pred[idx]))
    low, high = np.quantile(reps, [0.025, 0.975])
    assert f1["ci_low"] == pytest.approx(low, abs=0.02) and f1["ci_high"] == pytest.approx(high, abs=0.02)


def test_predictive_values_bayes():
    t = ConfusionTable(tp=45, fp=30, fn=5, tn=120)
    pv = predictive_values(t.sensitivity, t.specificity, t.prevalence).iloc[0]
    # at the study's own prevalence, Bayes gives back the table's PPV and NPV
    assert pv["ppv"] == pytest.approx(t.ppv) and pv["npv"] == pytest.approx(t.npv)
    df = predictive_values(0.9, 0.95, [0.01, 0.3], n_positive=50, n_negative=150)
    assert df["ppv"].round(3).tolist() == [0.154, 0.885]
    assert np.all(df["ppv_ci_low"] < df["ppv"]) and np.all(df["ppv"] < df["ppv_ci_high"])
    assert df["ppv"].iloc[0] < df["ppv"].iloc[1] and df["npv"].iloc[0] > df["npv"].iloc[1]


def test_natural_frequencies():
    nf = natural_frequencies(0.9, 0.95, 0.01)
    assert nf.table == ConfusionTable(tp=9, fp=50, fn=1, tn=940)
    assert nf.table.n == 1000 and nf.ppv == pytest.approx(0.009 / (0.009 + 0.0495))
    assert "Of 1,000 people, 10 have the disease" in nf.describe()


# ------------------------------------------------------------------------------------------ ROC and AUC
def test_roc_and_pr_match_sklearn(data):
    y, a, _ = data
    roc = roc_curve(y, a)
    fpr, tpr, thr = metrics.roc_curve(y, a, drop_intermediate=False)
    np.testing.assert_allclose(roc.fpr, fpr)
    np.testing.assert_allclose(roc.tpr, tpr)
    np.testing.assert_allclose(roc.thresholds, thr)
    assert roc.auc == pytest.approx(metrics.roc_auc_score(y, a))
    pr = pr_curve(y, a)
    precision, recall, thr = metrics.precision_recall_curve(y, a)
    np.testing.assert_allclose(pr.precision, precision)
    np.testing.assert_allclose(pr.recall, recall)
    np.testing.assert_allclose(pr.thresholds, thr)
    assert pr.average_precision == pytest.approx(metrics.average_precision_score(y, a))
    assert roc.point_at(0.5) == pytest.approx(
        (1 - confusion_table(y, a, threshold=0.5).specificity, confusion_table(y, a, threshold=0.5).sensitivity)
    )


def test_hanley_mcneil_1982_rating_data():
    # Hanley & McNeil, Radiology 1982, table 1: CT ratings (1 = definitely normal ... 5 = definitely
    # abnormal) of 58 normal and 51 abnormal patients; published area 0.893.
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(58, int), np.ones(51, int)]
    s = np.r_[normal, abnormal]
    est = auc_delong(y, s)
    assert round(est.auc, 3) == 0.893
    _, cov = slow_delong(y, s[None, :].astype(float))
    assert est.se == pytest.approx(np.sqrt(cov[0, 0]))
    assert est.ci_low == pytest.approx(est.auc - 1.959964 * est.se, rel=1e-6)


def test_fast_delong_equals_slow_formula(data):
    y, a, b = data
    aucs, cov = delong_covariance(y, np.vstack([a, b]))
    ref_aucs, ref_cov = slow_delong(y, np.vstack([a, b]))
    np.testing.assert_allclose(aucs, ref_aucs)
    np.testing.assert_allclose(cov, ref_cov, rtol=1e-10)
    assert aucs[0] == pytest.approx(metrics.roc_auc_score(y, a))


def test_compare_aucs_delong(data):
    y, a, b = data
    cmp = compare_aucs(y, a, b)
    aucs, cov = slow_delong(y, np.vstack([a, b]))
    se = np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert cmp.difference == pytest.approx(aucs[0] - aucs[1])
    assert cmp.se == pytest.approx(se)
    assert cmp.p_value == pytest.approx(2 * norm.sf(abs(aucs[0] - aucs[1]) / se))
    same = compare_aucs(y, a, a)
    assert same.difference == 0 and same.p_value == 1.0


def test_bootstrap_replicates_equal_sklearn_on_the_same_resamples(data):
    from medai_lib.evaluation._bootstrap import auc_from_counts, grid_counts, make_grid

    y, a, _ = data
    rng = np.random.default_rng(3)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    pos_idx = rng.integers(0, pos.size, size=(20, pos.size), dtype=np.int32)
    neg_idx = rng.integers(0, neg.size, size=(20, neg.size), dtype=np.int32)
    reps = auc_from_counts(*grid_counts(make_grid(y, a), pos_idx, neg_idx))
    for r in range(20):
        idx = np.concatenate([pos[pos_idx[r]], neg[neg_idx[r]]])
        assert reps[r] == pytest.approx(metrics.roc_auc_score(y[idx], a[idx]))


def test_auc_bootstrap_agrees_with_delong_and_is_reproducible(data):
    y, a, b = data
    boot = auc_bootstrap(y, a, n_bootstrap=2000, random_state=0)
    delong = auc_delong(y, a)
    assert boot.auc == pytest.approx(delong.auc)
    assert boot.se == pytest.approx(delong.se, rel=0.1)
    assert boot.ci_low == pytest.approx(delong.ci_low, abs=0.01)
    assert boot.ci_high == pytest.approx(delong.ci_high, abs=0.01)
    assert auc_bootstrap(y, a, n_bootstrap=500, random_state=7) == auc_bootstrap(y, a, n_bootstrap=500,
                                                                                random_state=7)
    cmp = compare_aucs(y, a, b, method="bootstrap", n_bootstrap=1000)
    ref = compare_aucs(y, a, b)
    assert cmp.se == pytest.approx(ref.se, rel=0.15)
    assert cmp.ci_low < cmp.difference < cmp.ci_high


def test_roc_band_surrounds_the_curve(data):
    y, a, _ = data
    roc = roc_curve(y, a, n_bootstrap=500)
    tpr_on_grid = np.array([roc.tpr[np.searchsorted(roc.fpr, f, side="right") - 1] for f in roc.fpr_grid])
    inside = (roc.tpr_low <= tpr_on_grid + 1e-12) & (tpr_on_grid <= roc.tpr_high + 1e-12)
    assert inside.mean() > 0.95
    assert np.all(roc.tpr_low <= roc.tpr_high)


# ------------------------------------------------------------------------------------- operating points
def test_operating_points_match_brute_force(data):
    y, a, _ = data
    fpr, tpr, thr = metrics.roc_curve(y, a, drop_intermediate=False)
    op = operating_point(y, a, n_bootstrap=200)
    best = np.argmax(tpr - fpr)
    assert op.threshold == thr[best] and op.sensitivity == pytest.approx(tpr[best])
    op = operating_point(y, a, method="sensitivity", target=0.9, n_bootstrap=200)
    ok = tpr >= 0.9
    assert op.sensitivity >= 0.9 and op.specificity == pytest.approx(np.max(1 - fpr[ok]))
    op = operating_point(y, a, method="specificity", target=0.8, n_bootstrap=200)
    ok = 1 - fpr >= 0.8
    assert op.specificity >= 0.8 and op.sensitivity == pytest.approx(np.max(tpr[ok]))
    table = confusion_table(y, a, threshold=op.threshold)
    assert op.ppv == pytest.approx(table.ppv) and op.npv == pytest.approx(table.npv)
    for name in ("sensitivity", "specificity", "ppv", "npv"):
        low, high = getattr(op, f"{name}_ci")
        assert low <= getattr(op, name) + 1e-9 and getattr(op, name) <= high + 1e-9
    assert op.threshold_ci[0] <= op.threshold <= op.threshold_ci[1]


# ------------------------------------------------------------------------------------------ calibration
@pytest.fixture(scope="module")
def miscalibrated():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.02, 0.98, 3000)
    y = (rng.random(3000) < expit(0.5 * logit(p) - 0.4)).astype(int)  # overconfident and too high
    return y, p


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_curve_matches_sklearn(miscalibrated, strategy):
    y, p = miscalibrated
    df = reliability_curve(y, p, n_bins=8, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=8, strategy=strategy)
    np.testing.assert_allclose(df["observed"], prob_true)
    np.testing.assert_allclose(df["mean_predicted"], prob_pred)
    assert df["n"].sum() == 3000
    assert np.all(df["ci_low"] <= df["observed"]) and np.all(df["observed"] <= df["ci_high"])


def test_brier_and_ece(miscalibrated):
    y, p = miscalibrated
    assert brier_score(y, p) == pytest.approx(metrics.brier_score_loss(y, p))
    bins = np.minimum((p * 10).astype(int), 9)  # no value sits exactly on an edge here
    ece = sum(np.sum(bins == b) / p.size * abs(y[bins == b].mean() - p[bins == b].mean()) for b in range(10))
    assert expected_calibration_error(y, p) == pytest.approx(ece)


def test_calibration_slope_and_intercept(miscalibrated):
    y, p = miscalibrated
    fit = calibration_slope_intercept(y, p)
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit(p)[:, None], y)
    assert fit.slope == pytest.approx(ref.coef_[0, 0], rel=1e-4)
    assert fit.slope_ci[0] < 0.5 < fit.slope_ci[1]
    # calibration-in-the-large solves mean(expit(a + logit p)) = mean(y)
    assert np.mean(expit(fit.intercept + logit(p))) == pytest.approx(y.mean(), abs=1e-8)
    assert fit.intercept < 0


def test_recalibration_fit_on_one_split_apply_to_another(miscalibrated):
    y, p = miscalibrated
    fit_y, fit_p, new_y, new_p = y[:1500], p[:1500], y[1500:], p[1500:]
    platt = PlattRecalibrator().fit(fit_y, fit_p)
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit(fit_p)[:, None], fit_y)
    np.testing.assert_allclose(platt.transform(new_p), ref.predict_proba(logit(new_p)[:, None])[:, 1], rtol=1e-4)
    iso = IsotonicRecalibrator().fit(fit_y, fit_p)
    ref_iso = IsotonicRegression(out_of_bounds="clip").fit(fit_p, fit_y)
    np.testing.assert_allclose(iso.transform(new_p), ref_iso.predict(new_p))
    before = expected_calibration_error(new_y, new_p)
    assert expected_calibration_error(new_y, platt.transform(new_p)) < before / 2
    assert expected_calibration_error(new_y, iso.transform(new_p)) < before / 2
    with pytest.raises(MedaiInputError, match="not fitted yet"):
        PlattRecalibrator().transform(new_p)


# ----------------------------------------------------------------------------------------- decision curve
def test_decision_curve_by_hand():
    # 10 cases, 4 diseased. At pt = 0.25 the odds weight is 1/3.
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.6, 0.5, 0.3, 0.3, 0.2, 0.1, 0.1, 0.05])
    # treated (p >= 0.25): 6 cases, 4 TP and 2 FP -> NB = 4/10 - 2/10 * 1/3
    assert net_benefit(y, p, 0.25)[0] == pytest.approx(0.4 - 0.2 / 3)
    # at pt = 0.55: 3 TP, 0 FP -> 0.3
    dca = decision_curve(y, p, thresholds=[0.25, 0.55])
    assert dca["net_benefit_model"].tolist() == pytest.approx([0.4 - 0.2 / 3, 0.3])
    # treat all: prevalence 0.4 -> 0.4 - 0.6 * 1/3 at 0.25
    assert dca["net_benefit_all"].iloc[0] == pytest.approx(0.4 - 0.6 / 3)
    assert dca["net_benefit_none"].tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------------------------- subgroups
def test_subgroup_table(data, caplog):
    y, a, _ = data
    groups = pd.Series(np.where(np.arange(400) < 380, np.where(np.arange(400) % 2, "A", "B"), "C"), name="site")
    with caplog.at_level(logging.WARNING):
        df = subgroup_table(y, a, groups, threshold=0.5)
    assert df["group"].tolist() == ["all", "A", "B", "C"]
    for _, row in df.iloc[1:].iterrows():
        mask = (groups == row["group"]).to_numpy()
        assert row["n"] == mask.sum()
        assert row["auc"] == pytest.approx(metrics.roc_auc_score(y[mask], a[mask]))
        assert row["sensitivity"] == pytest.approx(metrics.recall_score(y[mask], a[mask] >= 0.5))
    small = df.set_index("group").loc["C"]
    assert "too small" in small["warning"] and df.set_index("group").loc["A", "warning"] == ""
    assert "site=C" in caplog.text
    two = subgroup_table(y, a, pd.DataFrame({"site": groups, "sex": np.tile(["F", "M"], 200)}))
    assert set(two["variable"]) == {"site", "sex"}
    one_class = subgroup_table(y, a, np.where(y == 1, "sick", "well"))
    assert "only one class" in one_class.set_index("group").loc["sick", "warning"]


# ----------------------------------------------------------------------------------------------- evaluate
@pytest.fixture(scope="module")
def report(data):
    y, a, _ = data
    return evaluate(y, a, threshold=0.5, groups=np.tile(["F", "M"], 200), n_bootstrap=500, random_state=0)


def test_evaluate_agrees_with_the_parts(data, report):
    y, a, _ = data
    table = report.table.set_index("metric")
    assert list(report.table.columns) == ["metric", "estimate", "ci_low", "ci_high", "n", "method"]
    assert table.loc["auc", "estimate"] == pytest.approx(metrics.roc_auc_score(y, a))
    assert (table.loc["auc", "ci_low"], table.loc["auc", "ci_high"]) == pytest.approx(
        (auc_delong(y, a).ci_low, auc_delong(y, a).ci_high))
    assert table.loc["auc_bootstrap", "ci_low"] == pytest.approx(
        auc_bootstrap(y, a, n_bootstrap=500, random_state=0).ci_low, abs=0.01)
    assert table.loc["sensitivity", "estimate"] == pytest.approx(metrics.recall_score(y, a >= 0.5))
    assert table.loc["brier", "estimate"] == pytest.approx(metrics.brier_score_loss(y, a))
    assert report.metric("calibration_slope") == pytest.approx(calibration_slope_intercept(y, a).slope)
    assert report.confusion == confusion_table(y, a, threshold=0.5)
    assert report.subgroups["group"].tolist() == ["all", "F", "M"]
    assert report.roc.has_band and len(report.decision_curve) == 99
    with pytest.raises(KeyError, match="No metric 'auroc'"):
        report.metric("auroc")


def test_evaluate_plot_and_html(report):
    import matplotlib.pyplot as plt

    fig = report.plot()
    assert len(fig.axes) == 3
    assert "operating point" in fig.medai_caption and "Decision curve" in fig.medai_caption
    html = report._repr_html_()
    assert "AUC (DeLong CI)" in html and "Subgroups" in html and "Not for clinical use" in html
    plt.close(fig)


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "y, s, match",
    [
        ([0, 1, 1, 0], [0.1, np.nan, 0.3, 0.2], "y_score contains 1 NaN"),
        ([0, 1, 1, 0], [0.1, np.inf, 0.3, 0.2], "y_score contains 0 NaN and 1 infinite"),
        ([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.2], "single class"),
        ([0, 1, 1], [0.1, 0.2, 0.3, 0.2], "Length mismatch: y_true has 3, y_score has 4"),
        ([0, 1, 2, 0], [0.1, 0.2, 0.3, 0.2], r"only 0 \(no disease\) and 1.*\[2\]"),
        (["no", "yes", "no", "yes"], [0.1, 0.2, 0.3, 0.2], "Convert it first"),
    ],
)
def test_bad_input_is_named(y, s, match):
    for call in (lambda: auc_delong(y, s), lambda: evaluate(y, s, n_bootstrap=100)):
        with pytest.raises(MedaiInputError, match=match):
            call()


def test_bad_probabilities_and_bootstrap_sizes():
    y = np.array([0, 1] * 10)
    s = np.linspace(-1, 2, 20)
    with pytest.raises(MedaiInputError, match=r"y_score must be probabilities in \[0, 1\].*predict_proba"):
        evaluate(y, s)
    with pytest.raises(MedaiInputError, match="y_prob must be probabilities"):
        brier_score(y, s)
    auc_delong(y, s)  # AUC needs no probabilities
    with pytest.raises(MedaiInputError, match="Too few cases for a bootstrap.*1 positive"):
        auc_bootstrap([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3])
    with pytest.raises(MedaiInputError, match="n_bootstrap must be at least 100"):
        auc_bootstrap(y, s, n_bootstrap=10)
    with pytest.raises(MedaiInputError, match="needs target="):
        operating_point(y, s, method="sensitivity")
    with pytest.raises(MedaiInputError, match="prevalence must be a proportion"):
        predictive_values(0.9, 0.9, 30)
    with pytest.raises(MedaiInputError, match="ConfusionTable tp must be >= 0"):
        ConfusionTable(tp=-1, fp=0, fn=0, tn=0)


def test_make_binormal_has_the_stated_auc():
    y, s = make_binormal(4000, 4000, auc=0.7, random_state=1)
    assert metrics.roc_auc_score(y, s) == pytest.approx(0.7, abs=0.01)


# ------------------------------------------------------------------------------------ coverage (slow)
@pytest.mark.slow
def test_auc_interval_coverage_binormal():
    true_auc, n_sets = 0.8, 1000
    rng = np.random.default_rng(2024)
    hits_delong = hits_boot = 0
    for _ in range(n_sets):
        y, s = make_binormal(100, 100, auc=true_auc, random_state=rng)
        d = auc_delong(y, s)
        b = auc_bootstrap(y, s, n_bootstrap=1000, random_state=rng)
        hits_delong += d.ci_low <= true_auc <= d.ci_high
        hits_boot += b.ci_low <= true_auc <= b.ci_high
    assert 0.93 <= hits_delong / n_sets <= 0.97
    assert 0.93 <= hits_boot / n_sets <= 0.97


def test_delong_logit_interval_is_the_delta_method_transform():
    from medai_lib.evaluation import auc_delong, make_binormal

    y, s = make_binormal(40, 160, auc=0.9, random_state=2)
    plain = auc_delong(y, s)
    logit = auc_delong(y, s, scale="logit")
    assert logit.auc == plain.auc and logit.se == plain.se
    lo = np.log(logit.ci_low / (1 - logit.ci_low))
    hi = np.log(logit.ci_high / (1 - logit.ci_high))
    centre = np.log(plain.auc / (1 - plain.auc))
    assert (lo + hi) / 2 == pytest.approx(centre)
    assert (hi - lo) / 2 == pytest.approx(1.959964 * plain.se / (plain.auc * (1 - plain.auc)), rel=1e-4)
    assert 0 < logit.ci_low < logit.auc < logit.ci_high < 1
    with pytest.raises(MedaiInputError, match="scale must be"):
        auc_delong(y, s, scale="probit")


def test_calibration_fit_converges_on_badly_miscalibrated_risks():
    """Risks far too low and too spread (a model carried to another population): plain Newton overshoots
    from the starting point; the damped fit must reach scikit-learn's unpenalised maximum likelihood."""
    from scipy.special import expit
    from sklearn.linear_model import LogisticRegression

    from medai_lib.evaluation import calibration_slope_intercept

    rng = np.random.default_rng(0)
    lp = rng.normal(-9, 2.5, 400)
    y = (rng.random(400) < expit(4.0 + 0.45 * lp)).astype(int)
    fit = calibration_slope_intercept(y, expit(lp))
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10000).fit(lp[:, None], y)
    assert fit.slope == pytest.approx(ref.coef_[0][0], abs=1e-6)
    assert fit.intercept > 3  # risks underestimated: a large positive calibration-in-the-large


def test_net_benefit_at_prevalence_matches_net_benefit_on_a_sample_of_that_prevalence():
    from medai_lib.evaluation import net_benefit, net_benefit_at_prevalence

    # 20 diseased of 1,000; a rule that refers 15 of them and 98 of the 980 healthy (risk 0.9 vs 0.01)
    y = np.r_[np.ones(20), np.zeros(980)].astype(int)
    p = np.r_[np.full(15, 0.9), np.full(5, 0.01), np.full(98, 0.9), np.full(882, 0.01)]
    for pt in (0.05, 0.10, 0.30):
        from_data = net_benefit(y, p, [pt])[0]
        assert net_benefit_at_prevalence(15 / 20, 882 / 980, 0.02, pt) == pytest.approx(from_data)
    assert net_benefit_at_prevalence(0.0, 1.0, 0.3, 0.1) == 0.0  # refer no one
    with pytest.raises(MedaiInputError):
        net_benefit_at_prevalence(1.2, 0.5, 0.1, 0.1)


def test_net_benefit_table_matches_decision_curve_and_spans_follow_the_maximum():
    from medai_lib.evaluation import best_strategy_spans, decision_curve, net_benefit_table

    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.2
    good = np.clip(0.2 + 0.5 * (y - 0.2) + rng.normal(0, 0.15, 400), 0.001, 0.999)
    poor = rng.random(400)
    band = np.round(np.arange(0.10, 0.41, 0.05), 2)
    table = net_benefit_table(y.astype(int), {"good": good, "poor": poor}, band)
    ref = decision_curve(y.astype(int), good, thresholds=band)
    np.testing.assert_allclose(table.loc["good"].to_numpy(), ref["net_benefit_model"].to_numpy())
    np.testing.assert_allclose(table.loc["treat all"].to_numpy(), ref["net_benefit_all"].to_numpy())
    assert (table.loc["treat none"] == 0).all()
    spans = best_strategy_spans(table)
    assert spans[0][0] == band[0] and spans[-1][1] == band[-1]
    for first, last, name in spans:
        cols = [t for t in table.columns if first <= t <= last]
        assert all(table[t].idxmax() == name for t in cols)
    assert all(a[2] != b[2] for a, b in zip(spans, spans[1:]))
