"""Published GWAS summary statistics and known pathogenic variants: the simulated marginal effects against
their theory (mean R beta, covariance R / N), a score built from them against Daetwyler's expectation, the
file formats and their error messages.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from medai_lib.cancer import (
    LiabilityModel, clump, daetwyler_expected_r2, effective_number_of_segments, fit_clumping_thresholding,
    genotype_dosage, make_cancer_cohort, polygenic_score,
)
from medai_lib.cancer.sumstats import (
    PATHOGENIC_NAME, SUMSTATS_COLUMNS, SUMSTATS_NAME, align_summary_statistics, pathogenic_carrier,
    pathogenic_variant_table, read_pathogenic_variants, read_summary_statistics, simulate_summary_statistics,
    write_summary_statistics,
)
from medai_lib.errors import MedaiInputError


def _ld_panel(n=400, m=12, seed=0):
    """Genotypes with strong LD: haplotypes from thresholded correlated Gaussians (AR(1), rho = 0.8)."""
    rng = np.random.default_rng(seed)
    cov = 0.8 ** np.abs(np.subtract.outer(np.arange(m), np.arange(m)))
    chol = np.linalg.cholesky(cov)
    cut = stats.norm.ppf(rng.uniform(0.1, 0.5, m))
    hap = (rng.normal(size=(n, 2, m)) @ chol.T < cut).astype(np.int8)  # (n, 2, m)
    g = np.ascontiguousarray(hap.transpose(2, 0, 1))  # (m, n, 2)
    v = pd.DataFrame({"chrom": "1", "pos": np.arange(m) * 1000 + 1, "id": [f"v{i}" for i in range(m)],
                      "ref": "A", "alt": "G"})
    return g, v


def test_marginal_effects_have_mean_r_beta_and_covariance_r_over_n():
    g, v = _ld_panel()
    m = len(v)
    d = genotype_dosage(g).astype(np.float64)
    sd = d.std(axis=1)
    r = np.corrcoef(d)  # the panel LD, computed independently
    beta_std = np.zeros(m)
    beta_std[[3, 8]] = [0.10, -0.06]
    n_eff = 20_000
    reps = np.array([
        simulate_summary_statistics(g, v, beta_std / sd, n_effective=n_eff, random_state=k)["beta"].to_numpy() * sd
        for k in range(400)])
    expected = r @ beta_std
    # mean: R beta (each SNP carries its LD neighbours' effects), within 4 Monte-Carlo SEs
    mc_se = np.sqrt(np.diag(r) / n_eff / len(reps))
    assert np.all(np.abs(reps.mean(axis=0) - expected) < 4 * mc_se)
    assert abs(expected[2]) > 0.03  # a non-causal neighbour carries a clear signal
    # spread: 1 / sqrt(N) on the standardised scale, and noise correlated as the LD
    assert reps.std(axis=0) == pytest.approx(np.full(m, 1 / np.sqrt(n_eff)), rel=0.12)
    noise_corr = np.corrcoef((reps - reps.mean(axis=0)).T)
    assert np.abs(noise_corr - r).max() < 0.15
    # the reported SE and p agree with each other and with that spread
    s = simulate_summary_statistics(g, v, beta_std / sd, n_effective=n_eff, random_state=0)
    assert (s["standard_error"] * sd).to_numpy() == pytest.approx(np.full(m, 1 / np.sqrt(n_eff)), rel=0.01)
    z = s["beta"] / s["standard_error"]
    np.testing.assert_allclose(s["p_value"], 2 * stats.norm.sf(np.abs(z)), rtol=1e-6)
    assert list(s.columns) == list(SUMSTATS_COLUMNS) and (s["n"] == n_eff).all()


def test_reference_panel_and_monomorphic_variants():
    g, v = _ld_panel(n=300, m=6, seed=1)
    g[2] = 0  # monomorphic: a real study reports nothing for it
    s = simulate_summary_statistics(g, v, np.zeros(6), n_effective=5000, reference=np.arange(300) < 200)
    assert "v2" not in set(s["variant_id"]) and len(s) == 5
    d = genotype_dosage(g[:, :200]).astype(float)
    np.testing.assert_allclose(s["effect_allele_frequency"], np.delete(d.mean(axis=1) / 2, 2))
    with pytest.raises(MedaiInputError, match="'n_effective' must be a sample size"):
        simulate_summary_statistics(g, v, np.zeros(6), n_effective=10)
    with pytest.raises(MedaiInputError, match="'joint_effects' must be 6 finite numbers"):
        simulate_summary_statistics(g, v, np.zeros(5), n_effective=5000)
    with pytest.raises(MedaiInputError, match="reference panel has 10 people"):
        simulate_summary_statistics(g, v, np.zeros(6), n_effective=5000, reference=np.arange(10))


# --- a score from the summary statistics against Daetwyler's expectation ---------------------------------

@pytest.fixture(scope="module")
def small_cohort():
    return make_cancer_cohort(1500, n_chromosomes=2, chromosome_length=5e6, n_causal_chromosomes=2,
                              model=LiabilityModel(n_causal=100, n_rare=0), published_gwas_n=None,
                              random_state=5)


@pytest.fixture(scope="module")
def published_study(small_cohort):
    """A large published GWAS of group_A (common variants only), group_A cut into an LD reference, a tuning
    and a test third, and the true polygenic liability: what the LD-aware scores are fitted and judged on."""
    c = small_cohort
    t = c.truth
    a = np.flatnonzero((c.samples["ancestry_group"] == "group_A").to_numpy())
    joint = np.zeros(len(c.variants))
    joint[t.causal_index] = t.causal_effect
    ss = simulate_summary_statistics(c.genotypes, c.variants, joint, n_effective=100_000, reference=a,
                                     random_state=1)
    gwas = align_summary_statistics(ss, c.variants)
    f = gwas["alt_freq"].to_numpy()
    gwas.loc[~(np.minimum(f, 1 - f) >= 0.01), "p"] = np.nan
    return c, gwas, (a[0::3], a[1::3], a[2::3]), t.polygenic_liability


@pytest.mark.parametrize("n_eff", [500, 100_000])
def test_score_from_summary_statistics_reaches_daetwyler_expectation(small_cohort, n_eff):
    c = small_cohort
    t = c.truth
    g = c.genotypes
    a = (c.samples["ancestry_group"] == "group_A").to_numpy()
    joint = np.zeros(len(c.variants))
    joint[t.causal_index] = t.causal_effect
    ss = simulate_summary_statistics(g, c.variants, joint, n_effective=n_eff, reference=a, random_state=1)
    gwas = align_summary_statistics(ss, c.variants)
    f = gwas["alt_freq"].to_numpy()
    gwas.loc[~(np.minimum(f, 1 - f) >= 0.01), "p"] = np.nan
    idx = np.flatnonzero(a)
    val, test = idx[::2], idx[1::2]
    score = fit_clumping_thresholding(gwas, clump(gwas, g[:, val], c.variants), g[:, val],
                                      t.polygenic_liability[val])
    prs = polygenic_score(g[:, test], score)
    r2 = np.corrcoef(prs, t.polygenic_liability[test])[0, 1] ** 2 * t.model.h2  # R2 with the liability
    m_e = effective_number_of_segments(10_000, 2 * 5e6 * 1e-8)
    expected = daetwyler_expected_r2(t.model.h2, n_eff, m_e)
    assert 0.5 * expected < r2 < 1.2 * expected + 0.02, (r2, expected)


# --- files -------------------------------------------------------------------------------------------------

def _sumstats():
    g, v = _ld_panel(n=200, m=5, seed=2)
    return simulate_summary_statistics(g, v, np.r_[0.2, 0, 0, 0, 0], n_effective=50_000), v, g


def test_summary_statistics_round_trip_and_alignment(tmp_path):
    s, v, _ = _sumstats()
    path = write_summary_statistics(s, tmp_path / SUMSTATS_NAME)
    back = read_summary_statistics(path)
    np.testing.assert_allclose(back["beta"], s["beta"], rtol=1e-5)
    np.testing.assert_allclose(back["p_value"], s["p_value"], rtol=1e-3)
    assert back["n"].dtype == np.int64
    # a cohort that codes two variants on the other strand order: effects flip; a third has other alleles
    cohort = v.copy()
    cohort.loc[[0, 1], ["ref", "alt"]] = cohort.loc[[0, 1], ["alt", "ref"]].to_numpy()
    cohort.loc[2, "alt"] = "T"
    cohort = pd.concat([cohort, pd.DataFrame({"chrom": ["1"], "pos": [9], "id": ["new"], "ref": ["C"],
                                              "alt": ["T"]})], ignore_index=True)
    al = align_summary_statistics(back, cohort)
    np.testing.assert_allclose(al["beta"].iloc[[0, 1]], -back["beta"].iloc[[0, 1]])
    np.testing.assert_allclose(al["alt_freq"].iloc[[0, 1]], 1 - back["effect_allele_frequency"].iloc[[0, 1]])
    np.testing.assert_allclose(al["beta"].iloc[[3, 4]], back["beta"].iloc[[3, 4]])
    assert al["p"].iloc[[2, 5]].isna().all()
    with pytest.raises(MedaiInputError, match="no variant of the summary statistics matches the cohort"):
        align_summary_statistics(back, cohort.assign(id=[f"x{i}" for i in range(len(cohort))]))


@pytest.mark.parametrize("change, match", [
    (lambda t: t.drop(columns="standard_error"), r"lacks the column\(s\) \['standard_error'\].*Rename"),
    (lambda t: t.assign(beta=["x"] + t["beta"].tolist()[1:]), r"column 'beta' of .* non-numeric.*data rows \[1\]"),
    (lambda t: t.assign(p_value=1.5), r"column 'p_value' of .* must be in \[0, 1\]"),
    (lambda t: t.assign(standard_error=0.0), r"column 'standard_error' .* must be positive"),
    (lambda t: t.assign(variant_id="same"), r"'variant_id' of .* repeats"),
    (lambda t: t.iloc[:0], r"has a header but no rows"),
])
def test_read_summary_statistics_rejects_bad_files(tmp_path, change, match):
    s, _, _ = _sumstats()
    path = tmp_path / "bad.tsv"
    change(s).to_csv(path, sep="\t", index=False)
    with pytest.raises(MedaiInputError, match=match) as err:
        read_summary_statistics(path)
    assert "bad.tsv" in str(err.value)


def test_read_summary_statistics_missing_and_foreign_files(tmp_path):
    with pytest.raises(MedaiInputError, match="no summary statistics file at"):
        read_summary_statistics(tmp_path / "absent.tsv.gz")
    (tmp_path / "broken.tsv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(MedaiInputError, match="could not read the summary statistics file"):
        read_summary_statistics(tmp_path / "broken.tsv.gz")


def test_pathogenic_variants_file_and_carrier_status(tmp_path):
    g, v = _ld_panel(n=50, m=4, seed=3)
    g[1] = 0
    g[1, [3, 7], 0] = 1  # two carriers
    g[1, 9] = -1  # a missing call counts as not carrying
    panel = pathogenic_variant_table(v, [1])
    panel.to_csv(tmp_path / PATHOGENIC_NAME, sep="\t", index=False)
    back = read_pathogenic_variants(tmp_path / PATHOGENIC_NAME)
    assert back["clinical_significance"].tolist() == ["Pathogenic"]
    carrier = pathogenic_carrier(g, v, back)
    assert np.flatnonzero(carrier).tolist() == [3, 7]
    panel.drop(columns="pathogenic_allele").to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    with pytest.raises(MedaiInputError, match=r"bad.tsv lacks the column\(s\) \['pathogenic_allele'\]"):
        read_pathogenic_variants(tmp_path / "bad.tsv")
    with pytest.raises(MedaiInputError, match="none of the known pathogenic variants is in the genotypes"):
        pathogenic_carrier(g, v.assign(id=list("abcd")), back)


def test_cohort_files_carry_published_summary_statistics_and_gene_panel(tmp_path):
    from medai_lib.cancer import make_cancer_cohort_files, read_cohort
    from medai_lib.cancer.risk import read_truth

    folder = make_cancer_cohort_files(300, n_chromosomes=1, chromosome_length=4e6, root=tmp_path, random_state=2,
                                      model=LiabilityModel(n_causal=40, n_rare=2))
    assert "SYNTHETIC" in (folder / "published_gwas_summary_statistics.yaml").read_text()
    ss = read_summary_statistics(folder / SUMSTATS_NAME)
    assert (ss["n"] == 100_000).all()
    truth = read_truth(folder)
    data = read_cohort(folder / "genotypes.vcf.gz", folder / "phenotypes.csv")
    gwas = align_summary_statistics(ss, data.variants)
    # the causal variants are the most significant ones (N = 100,000 sees them clearly)
    causal_p = gwas["p"].to_numpy()[truth["causal_index"]]
    assert np.nanmedian(causal_p) < 1e-8
    panel = read_pathogenic_variants(folder / PATHOGENIC_NAME)
    assert panel["variant_id"].tolist() == data.variants["id"].to_numpy()[truth["rare_index"]].tolist()
    carrier = pathogenic_carrier(data.genotypes, data.variants, panel)
    rare_dose = np.clip(np.asarray(data.genotypes)[truth["rare_index"]], 0, None).sum(axis=2).sum(axis=0)
    np.testing.assert_array_equal(carrier, (rare_dose > 0).astype(np.int8))


def test_null_chromosomes_get_no_hits_and_distant_variants_no_signal(small_cohort):
    c = small_cohort
    t = c.truth
    a = (c.samples["ancestry_group"] == "group_A").to_numpy()
    joint = np.zeros(len(c.variants))
    causal_chr1 = t.causal_index[c.variants["chrom"].to_numpy()[t.causal_index] == "1"]
    joint[causal_chr1] = t.causal_effect[np.isin(t.causal_index, causal_chr1)]
    ss = simulate_summary_statistics(c.genotypes, c.variants, joint, n_effective=200_000, reference=a,
                                     random_state=3)
    chr2 = ss["chromosome"] == "2"  # no causal variant there: only noise, even with a huge study
    assert ss.loc[chr2, "p_value"].min() > 5e-8
    lam = np.median(stats.chi2.isf(ss.loc[chr2, "p_value"], 1)) / stats.chi2.ppf(0.5, 1)
    assert 0.8 < lam < 1.25
    assert ss.loc[~chr2, "p_value"].min() < 1e-30


def test_ld_ridge_score_solves_the_ld_system_and_beats_marginal_effects(published_study):
    from medai_lib.cancer import fit_ld_ridge_prs

    # one block: the weights are (R + lambda I)^-1 b, computed here directly
    g, v = _ld_panel(n=400, m=12, seed=4)
    s = simulate_summary_statistics(g, v, np.r_[np.zeros(5), 0.3, np.zeros(6)], n_effective=20_000)
    gwas = align_summary_statistics(s, v)
    y = genotype_dosage(g)[5].astype(float)
    score = fit_ld_ridge_prs(gwas, g, v, g, y, shrinkage=[0.5])
    f = gwas["alt_freq"].to_numpy()
    sd = np.sqrt(2 * f * (1 - f))
    r = np.corrcoef(genotype_dosage(g).astype(np.float64))
    np.testing.assert_allclose(score.weights, np.linalg.solve(r + 0.5 * np.eye(12), gwas["beta"] * sd) / sd,
                               rtol=1e-6, atol=1e-9)
    # LD adjustment puts the weight back on the causal variant that its neighbours' marginal effects share
    assert np.argmax(np.abs(score.weights)) == 5
    assert abs(score.weights[5]) / np.abs(score.weights).sum() > abs(gwas["beta"][5]) / np.abs(gwas["beta"]).sum()
    # on a simulated genome: tracks the true liability at least as well as clumping + thresholding
    c, gwas, (ref, val, test), y = published_study
    ridge = fit_ld_ridge_prs(gwas, c.genotypes[:, ref], c.variants, c.genotypes[:, val], y[val])
    ct = fit_clumping_thresholding(gwas, clump(gwas, c.genotypes[:, ref], c.variants), c.genotypes[:, val], y[val])
    r2 = {name: np.corrcoef(polygenic_score(c.genotypes[:, test], sc), y[test])[0, 1] ** 2
          for name, sc in (("ridge", ridge), ("ct", ct))}
    assert r2["ridge"] > 0.5 and r2["ridge"] > r2["ct"] - 0.03, r2
    with pytest.raises(MedaiInputError, match="'shrinkage' must be positive"):
        fit_ld_ridge_prs(gwas, c.genotypes[:, ref], c.variants, c.genotypes[:, val], y[val], shrinkage=[0])


def test_ld_lasso_score_meets_the_lasso_optimality_conditions_and_tracks_liability(published_study):
    from medai_lib.cancer import fit_ld_lasso_prs, fit_ld_ridge_prs
    from medai_lib.cancer.prs import _lasso_block

    # KKT conditions of min 0.5 w'Rw - b'w + lam |w|_1, checked independently of the solver
    g, v = _ld_panel(n=400, m=12, seed=6)
    r = np.corrcoef(genotype_dosage(g).astype(np.float64))
    b = r @ np.r_[np.zeros(4), 0.2, np.zeros(4), -0.1, 0, 0] + np.random.default_rng(0).normal(0, 0.01, 12)
    lam = 0.02
    w = _lasso_block(r, b, lam, max_sweeps=500, tol=1e-12)
    grad = b - r @ w
    active = w != 0
    np.testing.assert_allclose(grad[active], lam * np.sign(w[active]), atol=1e-8)
    assert np.all(np.abs(grad[~active]) <= lam + 1e-8)
    assert set(np.flatnonzero(active)) >= {4, 9} and active.sum() < 12
    # on a simulated genome: at least as good as the ridge score, with far fewer variants
    c, gwas, (ref, val, test), y = published_study
    lasso = fit_ld_lasso_prs(gwas, c.genotypes[:, ref], c.variants, c.genotypes[:, val], y[val])
    ridge = fit_ld_ridge_prs(gwas, c.genotypes[:, ref], c.variants, c.genotypes[:, val], y[val])
    r2 = {name: np.corrcoef(polygenic_score(c.genotypes[:, test], sc), y[test])[0, 1] ** 2
          for name, sc in (("lasso", lasso), ("ridge", ridge))}
    assert r2["lasso"] > 0.5 and r2["lasso"] > r2["ridge"] - 0.03, r2
    assert len(lasso.variant_index) < len(ridge.variant_index)
    with pytest.raises(MedaiInputError, match="'ld_shrinkage' must be numbers in"):
        fit_ld_lasso_prs(gwas, c.genotypes[:, ref], c.variants, c.genotypes[:, val], y[val], ld_shrinkage=[1.0])


def test_ld_scores_name_missing_summary_columns():
    import pandas as pd

    from medai_lib.cancer.prs import fit_ld_lasso_prs, fit_ld_ridge_prs

    g = np.zeros((5, 10, 2), dtype=np.int8)
    variants = pd.DataFrame({"chrom": ["1"] * 5, "pos": np.arange(5)})
    gwas = pd.DataFrame({"beta": np.zeros(5), "p": np.ones(5), "alt_freq": np.full(5, 0.3)})
    y = np.r_[np.zeros(5), np.ones(5)]
    with pytest.raises(MedaiInputError, match="'gwas' needs 'beta', 'se', 'p', 'alt_freq' columns and 5 rows"):
        fit_ld_lasso_prs(gwas, g, variants, g, y)
    with pytest.raises(MedaiInputError, match="'genotypes_ref' and 'genotypes_val' must hold the same variant rows"):
        fit_ld_ridge_prs(gwas, g, variants, g[:4], y)
