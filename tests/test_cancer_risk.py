"""Cancer risk models: covariates, portable PRS weights, the PRS + clinical logistic model, evaluation by
genetic ancestry group and recalibration, checked against scikit-learn and the simulator's ground truth.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from medai_lib.cancer import (
    LiabilityModel, PolygenicScore, make_cancer_cohort_files, polygenic_score, read_cohort,
)
from medai_lib.cancer.sumstats import read_pathogenic_variants, read_summary_statistics
from medai_lib.cancer.risk import (
    apply_score, covariate_matrix, evaluate_by_group, fit_risk_model, prepare_risk_study, read_truth,
    recalibrate_for_group, score_weights,
)
from medai_lib.errors import MedaiInputError


def _clinical(n, rng):
    return pd.DataFrame({
        "age": rng.uniform(40, 80, n).round(1), "sex": rng.choice(["male", "female"], n),
        "smoking": rng.integers(0, 2, n), "family_history": rng.integers(0, 2, n),
    })


# --- covariates -------------------------------------------------------------------------------------------

def test_covariate_matrix_codes_sex_and_keeps_numbers():
    rng = np.random.default_rng(0)
    t = _clinical(50, rng)
    x = covariate_matrix(t)
    assert list(x.columns) == ["age", "sex", "smoking", "family_history"]
    np.testing.assert_array_equal(x["sex"].to_numpy(), (t["sex"] == "male").to_numpy(dtype=float))
    np.testing.assert_array_equal(x["age"].to_numpy(), t["age"].to_numpy())


@pytest.mark.parametrize("change, match", [
    (lambda t: t.assign(age=t["age"].where(t.index != 3)), r"covariate 'age'.*1 missing value.*Impute"),
    (lambda t: t.assign(smoking=t["smoking"].astype(str).radd("x")), r"covariate 'smoking'.*must be numeric"),
    (lambda t: t.assign(smoking=t["smoking"] * 2), r"'smoking' must be coded 0/1"),
    (lambda t: t.assign(sex="unknown"), r"'sex' must be 'male'/'female' or 0/1"),
    (lambda t: t.drop(columns="family_history"), r"lacks the covariate column.*family_history"),
])
def test_covariate_matrix_rejects_bad_covariates(change, match):
    t = change(_clinical(20, np.random.default_rng(1)))
    with pytest.raises(MedaiInputError, match=match):
        covariate_matrix(t)


def test_covariate_matrix_rejects_non_frame():
    with pytest.raises(TypeError, match="'samples' must be a pandas DataFrame"):
        covariate_matrix(np.zeros((3, 4)))


# --- logistic risk model --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def logistic_data():
    rng = np.random.default_rng(2)
    n = 3000
    t = _clinical(n, rng)
    prs = rng.normal(size=n)
    lp = -3 + 0.6 * prs + 0.04 * (t["age"] - 60) + 0.8 * t["smoking"] + 0.5 * t["family_history"]
    y = (rng.random(n) < special.expit(lp)).astype(int)
    return t, prs, y


def test_risk_model_matches_sklearn_unpenalised_fit(logistic_data):
    t, prs, y = logistic_data
    model = fit_risk_model(t, y, prs=prs)
    x = np.column_stack([prs, covariate_matrix(t).to_numpy()])
    ref = LogisticRegression(C=np.inf, max_iter=2000, tol=1e-10).fit(x, y)
    np.testing.assert_allclose(model.predict(t, prs=prs), ref.predict_proba(x)[:, 1], atol=1e-5)
    # maximum likelihood with an intercept: mean predicted risk equals the observed risk
    assert model.predict(t, prs=prs).mean() == pytest.approx(y.mean(), abs=1e-8)


def test_odds_ratios_recover_generating_effects(logistic_data):
    t, prs, y = logistic_data
    ors = fit_risk_model(t, y, prs=prs).odds_ratios().set_index("predictor")
    truth = {"prs": np.exp(0.6 * prs.std()), "smoking": np.exp(0.8), "family_history": np.exp(0.5)}
    for name, value in truth.items():
        assert ors.loc[name, "ci_low"] < value < ors.loc[name, "ci_high"], name
    assert ors.loc["smoking", "unit"] == "yes vs no" and ors.loc["prs", "unit"] == "per SD"


def test_risk_model_input_errors(logistic_data):
    t, prs, y = logistic_data
    with pytest.raises(MedaiInputError, match="'y' must be 0/1"):
        fit_risk_model(t, y * 2, prs=prs)
    with pytest.raises(MedaiInputError, match="'prs' must have one score per person"):
        fit_risk_model(t, y, prs=prs[:-1])
    model = fit_risk_model(t, y, prs=prs)
    with pytest.raises(MedaiInputError, match="uses a PRS: pass 'prs'"):
        model.predict(t)


# --- portable weights ---------------------------------------------------------------------------------

def test_apply_score_matches_polygenic_score_and_flips_alleles():
    rng = np.random.default_rng(3)
    g = (rng.random((30, 40, 2)) < 0.3).astype(np.int8)
    variants = pd.DataFrame({"chrom": "1", "pos": np.arange(30) * 100 + 1, "id": [f"v{i}" for i in range(30)],
                             "ref": "A", "alt": "G"})
    score = PolygenicScore(np.array([2, 5, 11]), np.array([0.3, -0.2, 0.5]), "manual", 1.0, pd.DataFrame())
    w = score_weights(score, variants)
    np.testing.assert_allclose(apply_score(g, variants, w), polygenic_score(g, score))
    flipped = w.assign(effect_allele="A", weight=-w["weight"])  # same score on the other allele
    np.testing.assert_allclose(apply_score(g, variants, flipped),
                               polygenic_score(g, score) - 2 * w["weight"].sum())
    # a score built on another variant set is refused, naming the argument and the fix
    other = w.assign(id=["x1", "x2", "v5"])
    with pytest.raises(MedaiInputError, match=r"only 1 of the 3 variants in 'weights'.*different variant set"):
        apply_score(g, variants, other)


# --- evaluation and recalibration -----------------------------------------------------------------------

def test_evaluate_by_group_matches_sklearn_auc():
    rng = np.random.default_rng(4)
    n = 1200
    groups = rng.choice(["group_A", "group_B"], n)
    p = rng.uniform(0.02, 0.5, n)
    y = (rng.random(n) < p).astype(int)
    raw = p + rng.normal(0, 0.3, n) + 5  # not a probability: AUC only
    table = evaluate_by_group(y, {"model": p, "raw": raw}, groups).set_index(["model", "group"])
    for g in ("group_A", "group_B"):
        m = groups == g
        assert table.loc[("model", g), "auc"] == pytest.approx(roc_auc_score(y[m], p[m]), abs=1e-12)
        assert table.loc[("model", g), "ci_low"] < table.loc[("model", g), "auc"] < table.loc[("model", g), "ci_high"]
    assert table.loc[("raw", "all"), "auc"] == pytest.approx(roc_auc_score(y, raw))
    assert np.isnan(table.loc[("raw", "all"), "brier"])
    assert table.loc[("model", "all"), "observed_risk"] == pytest.approx(y.mean())


def test_recalibration_fixes_mean_risk_but_not_ranking():
    rng = np.random.default_rng(5)
    n = 4000
    true = rng.uniform(0.01, 0.3, n)
    y = (rng.random(n) < true).astype(int)
    p = special.expit(special.logit(true) + 1.0)  # the model overestimates risk in this group
    res = recalibrate_for_group(y, p, np.repeat("group_B", n), group="group_B", random_state=0)
    before, after = res.table.loc["before"], res.table.loc["after"]
    assert before["auc"] == pytest.approx(after["auc"], abs=1e-12)  # a monotone map keeps the ranking
    assert abs(after["calibration_intercept"]) < 0.2 < abs(before["calibration_intercept"])
    assert abs(after["mean_predicted"] - after["observed_risk"]) < 0.015
    assert len(np.intersect1d(res.calibration_index, res.test_index)) == 0
    with pytest.raises(MedaiInputError, match="'group' 'group_C' is not among"):
        recalibrate_for_group(y, p, np.repeat("group_B", n), group="group_C")


# --- the whole pipeline on a small simulated cohort -----------------------------------------------------

@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("cancer-risk")
    folder = make_cancer_cohort_files(600, n_chromosomes=2, chromosome_length=3e6, root=root, random_state=3,
                                      model=LiabilityModel(n_causal=100, h2=0.6))
    data = read_cohort(folder / "genotypes.vcf.gz", folder / "phenotypes.csv")
    return prepare_risk_study(
        data, truth=read_truth(folder), random_state=0,
        summary_statistics=read_summary_statistics(folder / "published_gwas_summary_statistics.tsv.gz"),
        pathogenic_variants=read_pathogenic_variants(folder / "known_pathogenic_variants.tsv"))


def test_published_score_tracks_genetic_liability_far_better_than_local_one(study):
    s = study.samples
    test = ((s["split"] == "test") & (s["ancestry_group"] == "group_A")).to_numpy()
    r2 = {c: np.corrcoef(s.loc[test, c], s.loc[test, "oracle_genetic"])[0, 1] ** 2 for c in ("prs", "prs_published")}
    assert r2["prs_published"] > 0.4 and r2["prs_published"] > r2["prs"] + 0.2, r2
    np.testing.assert_allclose(apply_score(study.genotypes, study.variants, study.published_weights),
                               s["prs_published"])
    # the gene panel flags exactly the carriers of the simulated rare variants (missing calls aside)
    assert set(np.unique(s["pathogenic_variant"])) <= {0, 1}
    cases = s.loc[s["pathogenic_variant"] == 1, "case"]
    assert len(cases) == 0 or cases.mean() > s["case"].mean()


def test_risk_study_splits_and_oracles(study):
    s = study.samples
    a = s["ancestry_group"] == "group_A"
    assert set(s.loc[~a, "split"]) == {"test"}
    shares = s.loc[a, "split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.4, abs=0.02) and shares["validation"] == pytest.approx(0.3, abs=0.02)
    # the score uses only variants common in the training split
    train = (s["split"] == "train").to_numpy()
    dose = study.genotypes[study.score.variant_index][:, train].sum(axis=2)
    freq = np.where(dose >= 0, dose, np.nan)
    maf = np.nanmean(freq, axis=1) / 2
    assert np.all(np.minimum(maf, 1 - maf) >= 0.009)
    # the oracle with genetic and clinical liability ranks people better than a model fitted on the data
    test = (s["split"] == "test").to_numpy()
    va = s["split"] == "validation"
    model = fit_risk_model(s[va], s["case"][va], prs=s["prs"][va])
    p = model.predict(s[test], prs=s["prs"][test])
    y = s["case"].to_numpy()[test]
    assert roc_auc_score(y, s["oracle_risk"].to_numpy()[test]) > roc_auc_score(y, p)
    np.testing.assert_allclose(apply_score(study.genotypes, study.variants, study.weights), s["prs"])


def test_read_truth_names_missing_file(tmp_path):
    with pytest.raises(MedaiInputError, match="no ground truth at"):
        read_truth(tmp_path)


def test_plot_auc_by_group_draws_one_interval_per_model_and_group():
    import matplotlib

    matplotlib.use("Agg")
    from medai_lib.cancer.risk import plot_auc_by_group

    rng = np.random.default_rng(6)
    p = rng.uniform(0, 0.5, 600)
    y = (rng.random(600) < p).astype(int)
    table = evaluate_by_group(y, {"a": p, "b": p + rng.normal(0, 0.2, 600)}, np.repeat(["A", "B"], 300))
    ax = plot_auc_by_group(table)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["all: a", "all: b", "A: a", "A: b", "B: a", "B: b"]
    with pytest.raises(MedaiInputError, match="must come from evaluate_by_group"):
        plot_auc_by_group(table.drop(columns="auc"))


def test_separating_rare_predictor_needs_a_penalty(logistic_data):
    t, prs, y = logistic_data
    carrier = np.zeros(len(y), dtype=int)
    carrier[np.flatnonzero(y == 1)[:4]] = 1  # every carrier is a case: infinite odds ratio
    t = t.assign(pathogenic_variant=carrier)
    cols = ("age", "sex", "smoking", "family_history", "pathogenic_variant")
    with pytest.raises(MedaiInputError, match=r"'pathogenic_variant' \(nearly\) separates.*penalty=0.1"):
        fit_risk_model(t, y, prs=prs, columns=cols)
    model = fit_risk_model(t, y, prs=prs, columns=cols, penalty=0.1)
    ors = model.odds_ratios().set_index("predictor")
    assert ors.loc["pathogenic_variant", "unit"] == "yes vs no"
    assert 3 < ors.loc["pathogenic_variant", "odds_ratio"] < 1e4
    # a small penalty barely moves well-estimated coefficients
    free = fit_risk_model(t.drop(columns="pathogenic_variant"), y, prs=prs)
    assert ors.loc["prs", "odds_ratio"] == pytest.approx(free.odds_ratios().set_index("predictor").loc["prs", "odds_ratio"], rel=0.03)
    with pytest.raises(MedaiInputError, match="'penalty' must be a number >= 0"):
        fit_risk_model(t, y, prs=prs, penalty=-1)


def test_calibration_of_far_off_risks_is_still_reported():
    # a group whose risks are all far too low (mean predicted ~1% against 14% observed): the intercept is
    # large and must still be estimated (an undamped Newton fit overshoots here)
    rng = np.random.default_rng(7)
    lp = rng.normal(-6.0, 2.5, 300)
    y = (rng.random(300) < special.expit(lp + 3.0)).astype(int)
    p = special.expit(lp)
    row = evaluate_by_group(y, {"m": p}, np.repeat("group_B", 300)).set_index("group").loc["group_B"]
    assert np.isfinite(row["calibration_intercept"]) and row["calibration_intercept"] > 1.5
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=5000).fit(lp[:, None], y)
    assert row["calibration_slope"] == pytest.approx(ref.coef_[0, 0], rel=1e-3)
    # the intercept solves its score equation: shifted risks sum to the observed number of cases
    assert special.expit(lp + row["calibration_intercept"]).sum() == pytest.approx(y.sum(), rel=1e-6)


def test_check_groups_names_the_parameter_and_the_groups_found():
    from medai_lib.cancer import check_groups

    samples = pd.DataFrame({"ancestry_group": ["nfe", "afr", "nfe", None]})
    check_groups(samples, TRAIN_GROUP="nfe", OTHER_GROUP="afr")  # both present: no error
    with pytest.raises(MedaiInputError, match=r"OTHER_GROUP = 'group_B' .* are \['afr', 'nfe'\]: set TRAIN_GROUP "
                                              r"and OTHER_GROUP to two different ones of them"):
        check_groups(samples, TRAIN_GROUP="nfe", OTHER_GROUP="group_B")
    with pytest.raises(MedaiInputError, match=r"TRAIN_GROUP = 'eas' .* set TRAIN_GROUP to one of them"):
        check_groups(samples, TRAIN_GROUP="eas")
    with pytest.raises(MedaiInputError, match="TRAIN_GROUP and OTHER_GROUP are both 'nfe'"):
        check_groups(samples, TRAIN_GROUP="nfe", OTHER_GROUP="nfe")
    with pytest.raises(MedaiInputError, match="no 'ancestry_group' column"):
        check_groups(samples.rename(columns={"ancestry_group": "population"}), TRAIN_GROUP="nfe")


def test_notebook_helpers_on_the_study(study, tmp_path):
    from medai_lib.cancer import (
        LiabilityModel, daetwyler_expected_r2, describe_scores, effective_number_of_segments, expected_r2_table,
        liability_r2_by_group, read_optional_study_files,
    )

    s = study.samples
    lines = describe_scores(study).splitlines()
    assert lines[0].startswith(f"Our own GWAS: {int((s['split'] == 'train').sum()):,} people; PRS of "
                               f"{len(study.score.variant_index):,} variants")
    assert lines[1].startswith(f"Published GWAS: {int(study.published_gwas['n'].max()):,} people")
    folder = tmp_path / "cohort"
    folder.mkdir()
    truth = {"polygenic_liability": np.zeros(len(study.qc.sample_mask))}
    h2 = LiabilityModel().h2
    m_e, table = expected_r2_table(study, None, h2=h2, genome_morgans=0.06)
    assert m_e == pytest.approx(effective_number_of_segments(10_000, 0.06))
    assert table.loc["our own", "expected R2"] == pytest.approx(
        daetwyler_expected_r2(h2, int((s["split"] == "train").sum()), m_e))
    assert list(table.index) == ["our own", "published"] and table.shape[1] == 2
    # the observed R2 is the squared correlation with the truth, times h2, in the group_A test people
    rng = np.random.default_rng(0)
    truth["polygenic_liability"] = rng.normal(size=len(study.qc.sample_mask))
    _, observed = expected_r2_table(study, truth, h2=h2, genome_morgans=0.06)
    test = ((s["split"] == "test") & (s["ancestry_group"] == "group_A")).to_numpy()
    liability = truth["polygenic_liability"][study.qc.sample_mask][test]
    assert observed.loc["published", "observed R2 (group_A test)"] == pytest.approx(
        np.corrcoef(s.loc[test, "prs_published"], liability)[0, 1] ** 2 * h2)
    r2 = liability_r2_by_group(s["prs_published"], s["oracle_genetic"], s["ancestry_group"], ["group_B"])
    b = (s["ancestry_group"] == "group_B").to_numpy()
    assert r2["group_B"] == pytest.approx(np.corrcoef(s.loc[b, "prs_published"], s.loc[b, "oracle_genetic"])[0, 1] ** 2)
    assert read_optional_study_files(folder) == (None, None)


def test_decision_panels_draw_the_library_decision_curve():
    import matplotlib

    matplotlib.use("Agg")
    from medai_lib.cancer import plot_decision_panels
    from medai_lib.evaluation import decision_curve

    rng = np.random.default_rng(2)
    p = rng.uniform(0.01, 0.5, 400)
    y = (rng.random(400) < p).astype(int)
    thresholds = np.arange(0.02, 0.41, 0.02)
    fig = plot_decision_panels([("A", y[:200], [("model", p[:200], "#0072B2")]),
                                ("B", y[200:], [("model", p[200:], "#0072B2")])], thresholds=thresholds)
    assert [ax.get_title() for ax in fig.axes] == ["A", "B"]
    reference = decision_curve(y[200:], p[200:], thresholds=thresholds)
    drawn = [line for line in fig.axes[1].lines if line.get_label() == "model"][0]
    np.testing.assert_allclose(drawn.get_ydata(), reference["net_benefit_model"])
    with pytest.raises(MedaiInputError, match="at least one"):
        plot_decision_panels([], thresholds=thresholds)
