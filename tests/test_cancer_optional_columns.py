"""Cohorts without every optional phenotype column (no genetic ancestry group, no clinical covariates): the
helpers the notebooks use to run on everyone as one group, or to stop with check_groups' message."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from medai_lib.cancer import (
    NO_GROUP_COLUMN, ONE_GROUP, LiabilityModel, ancestry_groups, available_covariates, case_rates_by_group,
    check_groups, exclusions_by_group, make_cancer_cohort, plot_calibration_by_group, plot_pca,
    prepare_risk_study, require_columns, study_groups, variant_qc,
)
from medai_lib.cancer.vcf import GenotypeData
from medai_lib.errors import MedaiInputError


def _check_groups_message(samples) -> str:
    with pytest.raises(MedaiInputError) as info:
        check_groups(samples, TRAIN_GROUP="a")
    return str(info.value)


def test_ancestry_groups_warns_or_raises_with_check_groups_message():
    samples = pd.DataFrame({"sample_id": ["s1", "s2"], "case": [0, 1]})
    with pytest.warns(UserWarning, match="no 'ancestry_group' column.*one group"):
        assert ancestry_groups(samples) is None
    with pytest.raises(MedaiInputError) as info:
        ancestry_groups(samples, required=True)
    assert str(info.value) == _check_groups_message(samples) == NO_GROUP_COLUMN
    np.testing.assert_array_equal(ancestry_groups(samples.assign(ancestry_group=["afr", "nfe"])), ["afr", "nfe"])
    with pytest.raises(MedaiInputError, match=r"blank for 1 people \(rows \[1\]"):
        ancestry_groups(samples.assign(ancestry_group=["afr", None]))


def test_study_groups_puts_everyone_in_one_group_without_the_column():
    samples = pd.DataFrame({"sample_id": ["s1", "s2"]})
    with pytest.warns(UserWarning, match="cannot be compared between genetic ancestry groups"):
        groups = study_groups(samples, TRAIN_GROUP="group_A", OTHER_GROUP="group_B")
    assert groups == {"TRAIN_GROUP": ONE_GROUP, "OTHER_GROUP": None}
    labelled = samples.assign(ancestry_group=["nfe", "afr"])
    assert study_groups(labelled, TRAIN_GROUP="nfe", OTHER_GROUP="afr") == {"TRAIN_GROUP": "nfe", "OTHER_GROUP": "afr"}
    with pytest.raises(MedaiInputError, match=r"OTHER_GROUP = 'group_B' is not a genetic ancestry group"):
        study_groups(labelled, TRAIN_GROUP="nfe", OTHER_GROUP="group_B")


def test_available_and_required_columns():
    samples = pd.DataFrame({"sample_id": ["a"], "family_history": [1], "age": [50.0], "case": [1]})
    assert available_covariates(samples) == ("age", "family_history")
    assert available_covariates(samples[["sample_id", "case"]]) == ()
    require_columns(samples, ["case"], purpose="a GWAS")
    with pytest.raises(MedaiInputError, match=r"phenotypes.csv\) has no column\(s\) \['event_age'\], which survival "
                                              r"analysis needs.*Add them"):
        require_columns(samples, ["case", "event_age"], purpose="survival analysis")


def test_exclusions_and_case_rates_by_group_against_counts():
    rng = np.random.default_rng(0)
    groups = rng.choice(["afr", "nfe"], 300, p=[0.3, 0.7])
    kept = rng.random(300) > 0.1
    table = exclusions_by_group(kept, groups)
    for g in ("afr", "nfe"):
        assert table.loc[g, "people"] == int(np.sum(groups == g))
        assert table.loc[g, "excluded"] == int(np.sum((groups == g) & ~kept))
    one = exclusions_by_group(kept)
    assert one.index.tolist() == ["everyone"] and one.loc["everyone", "excluded"] == int((~kept).sum())
    case = (rng.random(300) < 0.2).astype(int)
    rates = case_rates_by_group(pd.DataFrame({"case": case, "ancestry_group": groups}))
    assert rates.loc["afr", "share ever diagnosed"] == pytest.approx(case[groups == "afr"].mean())
    age = rng.uniform(40, 80, 300)
    with_age = case_rates_by_group(pd.DataFrame({"case": case, "ancestry_group": groups, "age": age}))
    assert with_age.loc["nfe", "median age"] == pytest.approx(np.median(age[groups == "nfe"]))
    assert case_rates_by_group(pd.DataFrame({"case": case})).loc[ONE_GROUP, "people"] == 300
    with pytest.raises(MedaiInputError, match="no 'case' column"):
        case_rates_by_group(pd.DataFrame({"x": [1]}))


def test_qc_and_pca_plot_run_without_groups():
    cohort = make_cancer_cohort(120, n_chromosomes=1, chromosome_length=1e6, random_state=1,
                                model=LiabilityModel(n_causal=20, n_rare=1))
    vq = variant_qc(cohort.genotypes, groups=None)
    np.testing.assert_array_equal(vq["hwe_p"], vq["hwe_p_pooled"])  # one group: within = pooled
    ax = plot_pca(np.random.default_rng(0).normal(size=(30, 2)), None)
    assert "not in phenotypes.csv" in ax.get_legend().get_title().get_text()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["everyone (n=30)"]


def test_risk_study_without_groups_or_covariates():
    cohort = make_cancer_cohort(500, n_chromosomes=2, chromosome_length=2e6, random_state=2,
                                model=LiabilityModel(n_causal=60, n_rare=1))
    data = GenotypeData(genotypes=cohort.genotypes, variants=cohort.variants,
                        samples=cohort.samples[["sample_id", "case"]])
    with pytest.raises(MedaiInputError, match="no 'ancestry_group' column.*train_group='everyone'"):
        prepare_risk_study(data, train_group="group_A")
    study = prepare_risk_study(data, train_group=ONE_GROUP, random_state=0)
    s = study.samples
    assert set(s["ancestry_group"]) == {ONE_GROUP}
    shares = s["split"].value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.4, abs=0.02) and shares["test"] == pytest.approx(0.3, abs=0.02)
    assert np.isfinite(s["prs"]).all()


def test_calibration_plot_points_are_bin_means():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.5, 500)
    y = (rng.random(500) < p).astype(int)
    groups = np.repeat(["A", "B"], 250)
    fig = plot_calibration_by_group(y, p, groups, show=["B", None])
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "B"
    x, obs = fig.axes[0].lines[0].get_data()
    order = np.argsort(p[250:], kind="stable")
    fifths = np.array_split(order, 5)  # 250 people: five equal bins of 50
    np.testing.assert_allclose(x, [p[250:][f].mean() for f in fifths])
    np.testing.assert_allclose(obs, [y[250:][f].mean() for f in fifths])
    # 95% Wilson intervals of each fifth's observed share (scipy's implementation as the reference)
    from scipy.stats import binomtest

    bars = fig.axes[0].collections[0].get_segments()
    ref = [tuple(binomtest(int(y[250:][f].sum()), len(f)).proportion_ci(method="wilson")) for f in fifths]
    np.testing.assert_allclose([(seg[0][1], seg[1][1]) for seg in bars], ref, rtol=1e-6)
    with pytest.raises(MedaiInputError, match=r"groups \['C'\] are not among"):
        plot_calibration_by_group(y, p, groups, show=["C"])


def test_compare_to_baseline_reads_the_interval():
    from sklearn.metrics import roc_auc_score

    from medai_lib.cancer import compare_to_baseline

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 600)
    clinical = y + rng.normal(0, 1.5, 600)
    scores = {"clinical": clinical, "clinical + good": clinical + y + rng.normal(0, 1, 600),
              "clinical + noise": clinical + rng.normal(0, 0.05, 600), "worse": rng.normal(size=600) + 0.2 * y}
    groups = np.repeat(["A", "B"], 300)
    table = compare_to_baseline(y, scores, baseline="clinical", groups=groups, group="B")
    b = groups == "B"
    for name in table.index:
        assert table.loc[name, "difference"] == pytest.approx(
            roc_auc_score(y[b], scores[name][b]) - roc_auc_score(y[b], clinical[b]))
    assert table["reading"].to_dict() == {"clinical + good": "higher", "clinical + noise": "no clear difference",
                                          "worse": "lower"}
    with pytest.raises(MedaiInputError, match="'baseline' 'none' is not a key"):
        compare_to_baseline(y, scores, baseline="none")


def test_prs_percentile_matches_scipy_and_ancestry_matched_top_share():
    from scipy.stats import percentileofscore

    from medai_lib.cancer import prs_percentile, top_share_by_reference

    rng = np.random.default_rng(5)
    reference = np.round(rng.normal(0, 1, 500), 1)  # ties, as rounded scores have
    scores = np.r_[np.round(rng.normal(0.3, 1, 50), 1), -9.0, 9.0]
    np.testing.assert_allclose(prs_percentile(scores, reference),
                               [percentileofscore(reference, s, kind="mean") for s in scores])
    # group B's scores sit 1 SD higher: against group A's reference, far more than 10% of B are "top 10%"
    prs = np.r_[rng.normal(0, 1, 4000), rng.normal(1, 1, 4000)]
    groups = np.repeat(["A", "B"], 4000)
    table = top_share_by_reference(prs, groups, reference_group="A", top=10)
    from scipy.stats import norm

    assert table.loc["B", "top_by_reference"] == pytest.approx(norm.sf(norm.ppf(0.9) - 1), abs=0.02)  # ~0.39
    assert table.loc["A", "top_by_reference"] == pytest.approx(0.1, abs=0.002)
    assert table["top_by_own_group"].to_numpy() == pytest.approx([0.1, 0.1], abs=0.002)
    with pytest.raises(MedaiInputError, match="'reference_group' 'C' is not among"):
        top_share_by_reference(prs, groups, reference_group="C")
