"""Level 5 evaluation tools (subgroup audits, conformal sets, abstention, shift monitoring, model cards)
checked against independent references: fairlearn, scikit-learn, scipy, the textbook conformal formula and
the generators' ground truth.
"""
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation import (
    age_bands,
    conformal_sets,
    coverage_by_group,
    detect_shift,
    false_alarm_rate,
    fit_abstention_rule,
    gap_sources,
    group_audit,
    implied_fpr,
    model_card,
    monitor_batches,
    ppv_at_prevalence,
    reporting_checklist,
    selective_curve,
    split_conformal_threshold,
)


def calibrated_cohort(n, prevalence_shift=0.0, random_state=0):
    """Risks that are calibrated by construction: y ~ Bernoulli(p); a logit shift changes the prevalence."""
    rng = np.random.default_rng(random_state)
    logit = rng.normal(-1.0 + prevalence_shift, 1.5, n)
    p = 1 / (1 + np.exp(-logit))
    y = (rng.uniform(size=n) < p).astype(int)
    return y, p


# ------------------------------------------------------------------------------------------ fairness
def test_group_audit_estimates_match_scikit_learn_per_group():
    y, p = calibrated_cohort(1200, random_state=1)
    groups = np.where(np.arange(1200) % 3 == 0, "site B", "site A")
    audit = group_audit(y, p, groups, threshold=0.3, n_bootstrap=200, random_state=0)
    for g in ("site A", "site B"):
        m = groups == g
        row = audit.table.loc[g]
        assert row["n"] == m.sum()
        assert row["auc"] == pytest.approx(roc_auc_score(y[m], p[m]))
        assert row["sensitivity"] == pytest.approx(recall_score(y[m], p[m] >= 0.3))
        assert row["ppv"] == pytest.approx(precision_score(y[m], p[m] >= 0.3))
        assert row["false_positive_rate"] == pytest.approx(((p[m] >= 0.3) & (y[m] == 0)).sum() / (y[m] == 0).sum())
        assert row["observed_to_expected"] == pytest.approx(y[m].mean() / p[m].mean())
        for metric in ("auc", "sensitivity", "ppv", "prevalence"):
            assert row[f"{metric}_ci_low"] <= row[metric] <= row[f"{metric}_ci_high"]
    gap = audit.gaps.loc["sensitivity", "largest_gap"]
    assert gap == pytest.approx(abs(audit.table.loc["site A", "sensitivity"] - audit.table.loc["site B", "sensitivity"]))
    assert audit.table.index[0] == "overall" and audit.table.loc["overall", "n"] == 1200


def test_group_audit_proportion_intervals_are_wilson_and_never_zero_width():
    y, p = calibrated_cohort(600, random_state=13)
    groups = np.where(np.arange(600) < 40, "small", "large")
    p = np.where(groups == "small", 0.01, p)   # nobody flagged in the small group: 0 of n
    audit = group_audit(y, p, groups, threshold=0.5, n_bootstrap=200)
    row = audit.table.loc["small"]
    n_neg = int((y[groups == "small"] == 0).sum())
    assert row["false_positive_rate"] == 0
    z2 = 1.959963984540054 ** 2   # Wilson upper limit at 0 of n: z^2 / (n + z^2) (Newcombe 1998)
    assert row["false_positive_rate_ci_high"] == pytest.approx(z2 / (n_neg + z2))
    assert row["false_positive_rate_ci_high"] > 0.02


def test_group_audit_intervals_agree_with_fairlearn_bootstrap():
    from fairlearn.metrics import MetricFrame

    y, p = calibrated_cohort(3000, random_state=2)
    groups = np.repeat(["F", "M"], 1500)
    audit = group_audit(y, p, groups, threshold=0.5, n_bootstrap=400, random_state=0)
    frame = MetricFrame(metrics={"sensitivity": recall_score}, y_true=y, y_pred=(p >= 0.5).astype(int),
                        sensitive_features=groups, n_boot=100, ci_quantiles=[0.025, 0.975], random_state=0)
    low, high = frame.by_group_ci[0], frame.by_group_ci[1]
    for g in ("F", "M"):
        assert audit.table.loc[g, "sensitivity_ci_low"] == pytest.approx(low.loc[g, "sensitivity"], abs=0.04)
        assert audit.table.loc[g, "sensitivity_ci_high"] == pytest.approx(high.loc[g, "sensitivity"], abs=0.04)


def test_prevalence_gap_is_told_apart_from_a_model_gap():
    # same calibrated model in both groups; group B has a higher prevalence only
    ya, pa = calibrated_cohort(20000, random_state=3)
    yb, pb = calibrated_cohort(20000, prevalence_shift=1.0, random_state=4)
    y, p = np.concatenate([ya, yb]), np.concatenate([pa, pb])
    groups = np.repeat(["A", "B"], 20000)
    audit = group_audit(y, p, groups, threshold=0.3, n_bootstrap=100, random_state=0)
    t = audit.table
    assert t.loc["B", "prevalence"] > t.loc["A", "prevalence"] + 0.1
    assert t.loc["A", "observed_to_expected"] == pytest.approx(1, abs=0.05)   # both calibrated
    assert t.loc["B", "observed_to_expected"] == pytest.approx(1, abs=0.05)
    assert t.loc["B", "ppv"] > t.loc["A", "ppv"] + 0.05   # PPV differs...
    sources = gap_sources(audit, reference="A", other="B")
    assert sources.loc["prevalence", "difference"] > 0.1
    assert abs(sources.loc["calibration (observed/expected)", "difference"]) < 0.08
    with pytest.raises(MedaiInputError, match="not a group"):
        gap_sources(audit, reference="A", other="C")


def test_chouldechova_identity_matches_a_confusion_table():
    # build the 2x2 table from prevalence, PPV and FNR and read the FPR off it
    for prev, ppv, fnr in [(0.1, 0.5, 0.2), (0.3, 0.7, 0.1), (0.05, 0.2, 0.3)]:
        n = 1_000_000
        pos = prev * n
        tp = pos * (1 - fnr)
        fp = tp * (1 - ppv) / ppv
        assert implied_fpr(prev, ppv, fnr) == pytest.approx(fp / (n - pos))
        assert ppv_at_prevalence(1 - fnr, fp / (n - pos), prev) == pytest.approx(ppv)
    # equal PPV and FNR with different prevalences force different false-positive rates
    fprs = implied_fpr([0.1, 0.3], 0.6, 0.2)
    assert fprs[1] > 3 * fprs[0]
    with pytest.raises(MedaiInputError, match="prevalence"):
        implied_fpr(1.2, 0.5, 0.1)


def test_age_bands_and_bad_groups():
    assert age_bands([49.9, 50, 64, 65]).tolist() == ["<50", "50-64", "50-64", "65+"]
    with pytest.raises(MedaiInputError, match="increasing"):
        age_bands([40], edges=(0, 65, 50))
    y, p = calibrated_cohort(50)
    with pytest.raises(MedaiInputError, match="fewer than"):
        group_audit(y, p, ["A"] * 49 + ["B"], n_bootstrap=100)


# ------------------------------------------------------------------------------------------ conformal
def test_conformal_sets_match_the_textbook_threshold():
    y, p = calibrated_cohort(3000, random_state=5)
    q = split_conformal_threshold(y[:1000], p[:1000], confidence=0.9)
    sets = conformal_sets(y[:1000], p[:1000], p[1000:], confidence=0.9)
    expected = np.column_stack([1 - p[1000:] >= 1 - q, p[1000:] >= 1 - q])
    assert (sets.sets == expected).mean() > 0.999   # floating-point ties at the threshold only
    # the k-th smallest score, k = ceil((n + 1) * 0.9), written out
    scores = np.sort(np.where(y[:1000] == 1, 1 - p[:1000], p[:1000]))
    assert q == scores[int(np.ceil(1001 * 0.9)) - 1]


@pytest.mark.parametrize("confidence", [0.8, 0.9])
def test_conformal_coverage_is_nominal_over_repeated_draws(confidence):
    coverages = []
    for seed in range(60):
        y, p = calibrated_cohort(1500, random_state=100 + seed)
        coverages.append(conformal_sets(y[:500], p[:500], p[500:], confidence=confidence).coverage(y[500:]))
    assert np.mean(coverages) == pytest.approx(confidence, abs=0.015)
    assert np.min(coverages) > confidence - 0.08


def _rare_disease(n, random_state):
    """A weak model of a rare disease (8%): marginal sets then cover almost only the healthy."""
    rng = np.random.default_rng(random_state)
    y = (rng.random(n) < 0.08).astype(int)
    return y, np.clip(0.08 + 0.25 * (y - 0.08) + rng.normal(0, 0.12, n), 0, 1)


def test_class_conditional_sets_match_each_class_textbook_threshold():
    y, p = _rare_disease(6000, random_state=8)
    sets = conformal_sets(y[:3000], p[:3000], p[3000:], confidence=0.9, condition_on="class")
    q0 = split_conformal_threshold(y[:3000][y[:3000] == 0], p[:3000][y[:3000] == 0], confidence=0.9)
    q1 = split_conformal_threshold(y[:3000][y[:3000] == 1], p[:3000][y[:3000] == 1], confidence=0.9)
    expected = np.column_stack([p[3000:] <= q0, p[3000:] >= 1 - q1])
    assert (sets.sets == expected).mean() > 0.999


def test_class_conditional_coverage_holds_in_each_class_where_marginal_fails():
    marginal, by_class = {0: [], 1: []}, {0: [], 1: []}
    for seed in range(30):
        y, p = _rare_disease(4000, random_state=200 + seed)
        yc, yt = y[:2000], y[2000:]
        for store, cond in ((marginal, None), (by_class, "class")):
            sets = conformal_sets(yc, p[:2000], p[2000:], confidence=0.9, condition_on=cond)
            hit = sets.sets[np.arange(yt.size), yt]
            for label in (0, 1):
                store[label].append(hit[yt == label].mean())
    assert np.mean(by_class[1]) == pytest.approx(0.9, abs=0.03)
    assert np.mean(by_class[0]) == pytest.approx(0.9, abs=0.015)
    assert np.mean(marginal[1]) < 0.5      # the patients with the disease are the ones left out
    with pytest.raises(MedaiInputError, match="condition_on"):
        conformal_sets(yc, p[:2000], p[2000:], condition_on="sex")
    with pytest.raises(MedaiInputError, match="with the disease are too few"):
        conformal_sets(np.r_[np.ones(5), np.zeros(200)].astype(int), np.full(205, 0.3), [0.2], condition_on="class")


def test_conformal_summary_groups_and_errors():
    y, p = calibrated_cohort(2000, random_state=6)
    sets = conformal_sets(y[:1000], p[:1000], p[1000:], confidence=0.9)
    summary = sets.summary(y[1000:])
    assert summary["n"].sum() == 1000
    assert summary.loc["both (unsure)", "coverage"] == 1.0   # both labels: always covered
    by = coverage_by_group(sets, y[1000:], np.repeat(["a", "b"], 500))
    assert by.loc["overall", "coverage"] == pytest.approx(sets.coverage(y[1000:]))
    with pytest.raises(MedaiInputError, match="too few"):
        conformal_sets(y[:5], p[:5], p[5:10], confidence=0.9)
    with pytest.raises(MedaiInputError, match="confidence"):
        conformal_sets(y[:100], p[:100], p[100:], confidence=90)


# ------------------------------------------------------------------------------------------ selective
def test_selective_curve_matches_scikit_learn_and_gains_accuracy():
    y, p = calibrated_cohort(4000, random_state=7)
    curve = selective_curve(y, p, threshold=0.5, n_points=10)
    assert curve["accuracy"].iloc[-1] == pytest.approx(accuracy_score(y, p >= 0.5))
    keep = np.argsort(-np.abs(p - 0.5), kind="stable")[:2000]
    half = curve.loc[np.isclose(curve["coverage"], 0.5)].iloc[0]
    assert half["accuracy"] == pytest.approx(accuracy_score(y[keep], p[keep] >= 0.5))
    assert curve["accuracy"].iloc[0] > curve["accuracy"].iloc[-1] + 0.1


def test_abstention_rule_reaches_its_target_on_new_cases():
    y, p = calibrated_cohort(6000, random_state=8)
    rule = fit_abstention_rule(y[:3000], p[:3000], target_accuracy=0.9)
    result = rule.evaluate(y[3000:], p[3000:])
    assert result["accuracy"] > 0.88
    assert 0 < result["referred"] < 0.8
    assert set(rule.decide([0.01, 0.5, 0.99])) <= {"negative", "refer", "positive"}
    with pytest.raises(MedaiInputError, match="target_accuracy"):
        fit_abstention_rule(y, p, target_accuracy=90)


# ------------------------------------------------------------------------------------------ monitoring
def test_shift_test_is_scipy_ks_with_bonferroni():
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(9)
    ref, new = rng.normal(size=(400, 3)), rng.normal(0.2, 1, size=(80, 3))
    result = detect_shift(ref, new)
    raw = [ks_2samp(ref[:, j], new[:, j], method="asymp").pvalue for j in range(3)]
    assert result.features["p_value"].tolist() == pytest.approx(raw)
    assert result.p_value == pytest.approx(min(1.0, 3 * min(raw)))


def test_false_alarm_rate_and_power_against_known_shift():
    rates, power_in, power_out = [], [], []
    for seed in range(6):   # several development samples: the false-alarm rate is an average over them
        rng = np.random.default_rng(10 + seed)
        ref = rng.normal(size=(1000, 4))
        n_batches, size = 80, 100
        stream = rng.normal(size=(n_batches * size, 4))
        stream[n_batches // 2 * size:, 1] += 0.6   # ground truth: feature 1 shifts halfway
        table = monitor_batches(ref, 1 / (1 + np.exp(-ref[:, 1])), stream, 1 / (1 + np.exp(-stream[:, 1])),
                                np.repeat(np.arange(n_batches), size), alpha=0.05)
        before, after = table.iloc[: n_batches // 2], table.iloc[n_batches // 2:]
        rates.append(false_alarm_rate(before))
        power_in.append(after["input_alarm"].mean())
        power_out.append(after["output_alarm"].mean())
    assert np.mean(rates) <= 0.05 + 0.02
    assert np.mean(power_in) > 0.85 and np.mean(power_out) > 0.85


def test_monitoring_errors_name_the_input():
    with pytest.raises(MedaiInputError, match="columns"):
        detect_shift(pd.DataFrame({"a": [1, 2, 3]}), pd.DataFrame({"b": [1, 2, 3]}))
    with pytest.raises(MedaiInputError, match="missing"):
        detect_shift(np.ones((5, 2)), np.array([[1, np.nan], [1, 2]]))
    with pytest.raises(MedaiInputError, match="same cases"):
        monitor_batches(np.ones((5, 1)), np.full(5, 0.5), np.ones((4, 1)), np.full(4, 0.5), [0, 0, 1])


# ------------------------------------------------------------------------------------------ reporting
def test_model_card_numbers_come_from_the_run():
    results = {"auc": 0.8123, "auc_ci_low": 0.75, "auc_ci_high": 0.86, "n_test": 412, "shift_detected": True}
    card = model_card(results, facts={"model": "logistic regression on questionnaire answers"})
    table = card.table.set_index("item")
    assert table.loc["AUC", "value"] == "0.812" and table.loc["AUC", "source"] == "run: auc"
    assert table.loc["Test cases", "value"] == "412"
    assert table.loc["Shift alarm raised before labels", "value"] == "yes"
    assert "calibration_slope" in card.missing
    assert "0.812" in card.to_markdown() and "Not for clinical use" in card.to_markdown()
    with pytest.raises(MedaiInputError, match="numbers must come from the run"):
        model_card(results, facts={"data_source": "1200 patients of two hospitals"})
    with pytest.raises(MedaiInputError, match="unknown field"):
        model_card(results, facts={"auc": "good"})


def test_checklists_mark_what_the_run_answers():
    results = {"auc": 0.8, "auc_ci_low": 0.7, "auc_ci_high": 0.9}
    tripod = reporting_checklist(results, facts={"ethics": "synthetic data; no approval needed"}).set_index("topic")
    assert tripod.loc["Model performance", "status"] == "reported"
    assert "auc = 0.8" in tripod.loc["Model performance", "evidence"]
    assert tripod.loc["Ethical approval", "status"] == "reported"
    assert tripod.loc["Fairness", "status"] == "to complete"
    claim = reporting_checklist(results, guideline="CLAIM").set_index("topic")
    assert claim.loc["Performance metrics", "status"] == "reported"
    with pytest.raises(MedaiInputError, match="guideline"):
        reporting_checklist(results, guideline="CONSORT")


def test_gap_interval_includes_zero_when_groups_are_alike():
    # two groups drawn from the same population: the 95% interval of the gap should include 0 in about 95%
    # of cohorts (an interval of the max-minus-min spread would never include it)
    hits = {"prevalence": [], "sensitivity": []}
    for seed in range(20):
        y, p = calibrated_cohort(1000, random_state=200 + seed)
        gaps = group_audit(y, p, np.tile(["a", "b"], 500), threshold=0.3, n_bootstrap=200, random_state=seed).gaps
        for metric in hits:
            hits[metric].append(gaps.loc[metric, "ci_low"] < 0 < gaps.loc[metric, "ci_high"])
    for metric, values in hits.items():
        assert np.mean(values) >= 0.8, metric


def test_stratified_monitoring_sees_a_shift_the_pooled_data_hide():
    # ground truth: the two sites swap their case mix; pooled over sites nothing changes
    rng = np.random.default_rng(12)
    ref_site = np.repeat(["A", "B"], 500)
    ref = np.where(ref_site == "A", 0.0, 1.5)[:, None] + rng.normal(size=(1000, 1))
    site = np.tile(["A", "B"], 600)
    new = np.where(site == "A", 1.5, 0.0)[:, None] + rng.normal(size=(1200, 1))
    risk_of = lambda x: 1 / (1 + np.exp(-x[:, 0]))  # noqa: E731
    batch = np.repeat(np.arange(10), 120)
    pooled = monitor_batches(ref, risk_of(ref), new, risk_of(new), batch)
    by_site = monitor_batches(ref, risk_of(ref), new, risk_of(new), batch, reference_strata=ref_site, strata=site)
    assert pooled["input_alarm"].mean() <= 0.2
    assert by_site["input_alarm"].mean() == 1.0
    with pytest.raises(MedaiInputError, match="both reference_strata and strata"):
        monitor_batches(ref, risk_of(ref), new, risk_of(new), batch, strata=site)
