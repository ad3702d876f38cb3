"""Cancer-track analysis: QC, HWE exact test, LD pruning and PCA, vectorised GWAS, genomic inflation,
clumping, polygenic scores and plots, checked against independent references and the simulator's truth.
"""
from __future__ import annotations

import math

import allel
import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from medai_lib.cancer import (
    LiabilityModel, PolygenicScore, clump, daetwyler_expected_r2, distance_to_causal,
    effective_number_of_segments, fit_clumping_thresholding, fit_penalised_prs, genetic_pca, genomic_inflation,
    genotype_dosage, hardy_weinberg_exact, ld_prune, make_cancer_cohort, observed_to_liability_r2,
    plot_gwas_summary, plot_manhattan, plot_pca, plot_qq, polygenic_score, qc_filter, run_gwas, sample_qc,
    variant_qc,
)
from medai_lib.errors import MedaiInputError

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def cohort():
    model = LiabilityModel(h2=0.6, n_causal=100, n_rare=2, group_shift=(0.0, 0.6))
    return make_cancer_cohort(1500, n_chromosomes=4, chromosome_length=6e6, model=model,
                              populations={"group_A": 0.7, "group_B": 0.3}, random_state=7)


@pytest.fixture(scope="module")
def prepared(cohort):
    vq = variant_qc(cohort.genotypes)
    sq = sample_qc(cohort.genotypes)
    qc = qc_filter(vq, sq)
    g = cohort.genotypes[qc.variant_mask][:, qc.sample_mask]
    variants = cohort.variants[qc.variant_mask].reset_index(drop=True)
    samples = cohort.samples[qc.sample_mask].reset_index(drop=True)
    pruned = ld_prune(g, variants)
    pca = genetic_pca(g, n_components=5, variant_mask=pruned, random_state=0)
    truth = cohort.truth
    far = distance_to_causal(cohort.variants, np.r_[truth.causal_index, truth.rare_index])[qc.variant_mask] >= 1e6
    return dict(qc=qc, g=g, variants=variants, samples=samples, pruned=pruned, pca=pca, far=far,
                liability=truth.liability[qc.sample_mask], polygenic=truth.polygenic_liability[qc.sample_mask],
                causal_rows=np.flatnonzero(np.isin(np.flatnonzero(qc.variant_mask), truth.causal_index)))


# --- QC -------------------------------------------------------------------------------------------------

def _hwe_reference(n_aa, n_ab, n_bb):
    """Exact HWE p-value by direct enumeration with integer arithmetic (Levene/Haldane distribution)."""
    n = n_aa + n_ab + n_bb
    n_a = 2 * n_aa + n_ab
    probs = {}
    for het in range(n_a % 2, min(n_a, 2 * n - n_a) + 1, 2):
        aa = (n_a - het) // 2
        bb = n - het - aa
        probs[het] = math.comb(n, het) * math.comb(n - het, aa) * 2**het / math.comb(2 * n, n_a)
    observed = probs[n_ab]
    return sum(p for p in probs.values() if p <= observed * (1 + 1e-9))


@pytest.mark.parametrize("counts", [(25, 50, 25), (50, 0, 50), (80, 18, 2), (70, 30, 0), (3, 10, 87),
                                    (400, 90, 10), (10, 0, 1), (0, 7, 0)])
def test_hwe_exact_matches_enumeration(counts):
    assert hardy_weinberg_exact(*[[c] for c in counts])[0] == pytest.approx(_hwe_reference(*counts), rel=1e-6)


def test_variant_and_sample_qc_against_numpy(cohort):
    g = cohort.genotypes[:500]
    vq = variant_qc(g, chunk_size=128)
    called = g[:, :, 0] >= 0
    np.testing.assert_allclose(vq["call_rate"], called.mean(axis=1))
    alt = np.where(called[:, :, None], g, 0).sum(axis=(1, 2)) / (2 * called.sum(axis=1))
    np.testing.assert_allclose(vq["alt_freq"], alt)
    het = (g[:, :, 0] != g[:, :, 1]) & called
    np.testing.assert_allclose(vq["het_observed"], het.sum(1) / called.sum(1))
    sq = sample_qc(g)
    np.testing.assert_allclose(sq["missing_rate"], 1 - called.mean(axis=0))
    # the exact test agrees with scikit-allel's heterozygote deficit sign on the most extreme variant
    worst = int(np.nanargmin(vq["hwe_p"]))
    f = allel.inbreeding_coefficient(allel.GenotypeArray(g[worst:worst + 1]))[0]
    assert abs(f) > 0.1


def test_qc_filter_removes_low_call_rate_rare_and_bad_samples(cohort, prepared):
    qc = prepared["qc"]
    vq = variant_qc(cohort.genotypes)
    sq = sample_qc(cohort.genotypes)
    kept = vq[qc.variant_mask]
    assert (kept["call_rate"] >= 0.95).all() and (kept["maf"] >= 0.01).all()
    assert (~qc.sample_mask).sum() == (sq["missing_rate"] > 0.05).sum() > 0
    assert qc.summary["removed"].iloc[1] > 0.4 * len(vq)  # most simulated SNPs are rare
    any_filter = qc.summary.set_index("filter").loc["any variant filter (each variant once)", "removed"]
    assert any_filter == int((~qc.variant_mask).sum())
    assert qc.summary["removed"].iloc[:3].max() <= any_filter <= qc.summary["removed"].iloc[:3].sum()
    with pytest.raises(MedaiInputError, match="min_maf"):
        qc_filter(vq, sq, min_maf=2)
    with pytest.raises(MedaiInputError, match="variant_qc"):
        qc_filter(vq.drop(columns="hwe_p"), sq)
    with pytest.raises(MedaiInputError, match=r"shape \(n_variants, n_samples, 2\)"):
        variant_qc(cohort.genotypes[:, :, 0])


# --- LD pruning and PCA -------------------------------------------------------------------------------------

def test_ld_prune_leaves_no_linked_pair_within_window(prepared):
    g, variants, pruned = prepared["g"], prepared["variants"], prepared["pruned"]
    assert 100 < pruned.sum() < 0.5 * len(pruned)
    rows = np.flatnonzero(pruned & (variants["chrom"].to_numpy() == "1"))[:150]
    gn = allel.GenotypeArray(g[rows]).to_n_alt(fill=-1)
    r = allel.rogers_huff_r(gn)
    i, j = np.triu_indices(len(rows), k=1)
    close = (j - i) < 50  # within half a 100-SNP window of the kept set
    assert np.nanmax(r[close] ** 2) < 0.2


def test_pc1_separates_genetic_ancestry_groups(prepared):
    from sklearn.metrics import roc_auc_score

    pca = prepared["pca"]
    groups = prepared["samples"]["ancestry_group"].to_numpy() == "group_B"
    auc = roc_auc_score(groups, pca.components[:, 0])
    assert max(auc, 1 - auc) > 0.99
    assert pca.explained_variance_ratio[0] > 3 * pca.explained_variance_ratio[1]
    assert list(pca.as_frame().columns) == [f"PC{i}" for i in range(1, 6)]
    with pytest.raises(MedaiInputError, match="n_components"):
        genetic_pca(prepared["g"], n_components=0)


# --- GWAS ---------------------------------------------------------------------------------------------------

def test_linear_gwas_matches_least_squares(prepared):
    g, y, pcs = prepared["g"][:40], prepared["liability"], prepared["pca"].components[:, :3]
    res = run_gwas(g, y, covariates=pcs, chunk_size=16)
    dose = genotype_dosage(g).astype(float)
    for k in range(0, 40, 7):
        x = np.column_stack([np.ones(len(y)), dose[k], pcs])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        sigma2 = resid @ resid / (len(y) - x.shape[1])
        se = math.sqrt(sigma2 * np.linalg.inv(x.T @ x)[1, 1])
        assert res["beta"][k] == pytest.approx(coef[1], rel=1e-4, abs=1e-6)
        assert res["se"][k] == pytest.approx(se, rel=1e-4)
        p = 2 * stats.t.sf(abs(coef[1] / se), len(y) - x.shape[1])
        assert res["p"][k] == pytest.approx(p, rel=1e-3, abs=1e-12)
    plain = run_gwas(g[:3], y)
    lr = stats.linregress(dose[0], y)
    assert plain["beta"][0] == pytest.approx(lr.slope, rel=1e-4)
    assert plain["p"][0] == pytest.approx(lr.pvalue, rel=1e-3)


def test_logistic_score_test_matches_independent_fit(prepared):
    from sklearn.linear_model import LogisticRegression

    g = prepared["g"][:30]
    y = prepared["samples"]["case"].to_numpy()
    pcs = prepared["pca"].components[:, :2]
    res = run_gwas(g, y, covariates=pcs, method="logistic")
    dose = genotype_dosage(g).astype(float)
    null = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(pcs, y)
    mu = null.predict_proba(pcs)[:, 1]
    x = np.column_stack([np.ones(len(y)), pcs])
    w = mu * (1 - mu)
    info = (x * w[:, None]).T @ x
    for k in (0, 5, 11, 29):
        u = dose[k] @ (y - mu)
        xwg = x.T @ (w * dose[k])
        v = dose[k] @ (w * dose[k]) - xwg @ np.linalg.solve(info, xwg)
        assert res["chi2"][k] == pytest.approx(u * u / v, rel=1e-2, abs=5e-3)  # lbfgs null fit agrees to ~1e-3
        # the score test agrees with the likelihood-ratio test of the full logistic model
        full = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(np.column_stack([dose[k], pcs]), y)
        ll = lambda m, a: np.sum(y * np.log(m.predict_proba(a)[:, 1]) + (1 - y) * np.log(m.predict_proba(a)[:, 0]))
        lrt = 2 * (ll(full, np.column_stack([dose[k], pcs])) - ll(null, pcs))
        assert res["chi2"][k] == pytest.approx(lrt, rel=0.4, abs=0.3)  # asymptotically equal; differ off the null
    with pytest.raises(MedaiInputError, match="0/1"):
        run_gwas(g, y + 0.5, method="logistic")


def test_genomic_inflation_reference_values():
    rng = np.random.default_rng(0)
    assert genomic_inflation(rng.uniform(size=200_000)) == pytest.approx(1.0, abs=0.02)
    chi2 = 1.5 * rng.chisquare(1, size=200_000)
    assert genomic_inflation(stats.chi2.sf(chi2, 1)) == pytest.approx(1.5, abs=0.03)
    with pytest.raises(MedaiInputError, match="p-values"):
        genomic_inflation([3.0, 5.0])


def test_uncorrected_gwas_is_confounded_and_pcs_correct_it(prepared):
    y = prepared["samples"]["case"].to_numpy()
    far = prepared["far"]
    assert far.sum() > 1000
    raw = run_gwas(prepared["g"][far], y, method="logistic")
    adj = run_gwas(prepared["g"][far], y, covariates=prepared["pca"].components[:, :5], method="logistic")
    assert genomic_inflation(raw["p"]) >= 1.2
    assert 0.92 <= genomic_inflation(adj["p"]) <= 1.12


def test_gwas_input_errors(prepared):
    g, y = prepared["g"][:5], prepared["liability"]
    with pytest.raises(MedaiInputError, match="one value per sample"):
        run_gwas(g, y[:-1])
    with pytest.raises(MedaiInputError, match="NaN"):
        run_gwas(g, np.where(np.arange(len(y)) == 0, np.nan, y))
    with pytest.raises(MedaiInputError, match="collinear"):
        run_gwas(g, y, covariates=np.ones((len(y), 1)))
    with pytest.raises(MedaiInputError, match="method"):
        run_gwas(g, y, method="probit")


# --- PRS ----------------------------------------------------------------------------------------------------

def test_clumping_keeps_top_hits_and_no_linked_pair(prepared):
    g, variants = prepared["g"], prepared["variants"]
    gw = run_gwas(g, prepared["liability"], covariates=prepared["pca"].components[:, :5])
    idx = clump(gw, g, variants, r2_threshold=0.1, window_bp=250_000, max_ld_samples=10_000)
    assert int(np.argmin(gw["p"])) in idx
    dose = genotype_dosage(g[idx]).astype(float)
    chrom, pos = variants["chrom"].to_numpy()[idx], variants["pos"].to_numpy()[idx]
    r = np.corrcoef(dose)
    i, j = np.triu_indices(len(idx), k=1)
    near = (chrom[i] == chrom[j]) & (np.abs(pos[i] - pos[j]) <= 250_000)
    assert near.sum() > 0 and np.nanmax(r[i[near], j[near]] ** 2) <= 0.1 + 1e-6
    with pytest.raises(MedaiInputError, match="'p' column"):
        clump(gw.drop(columns="p"), g, variants)


def test_polygenic_scores_recover_genetic_liability(prepared):
    g, samples = prepared["g"], prepared["samples"]
    y, polygenic = prepared["liability"], prepared["polygenic"]
    rng = np.random.default_rng(0)
    a = rng.permutation(np.flatnonzero(samples["ancestry_group"].to_numpy() == "group_A"))
    train, val, test = np.sort(a[:600]), np.sort(a[600:800]), np.sort(a[800:])
    gw = run_gwas(g[:, train], y[train])
    idx = clump(gw, g[:, train], prepared["variants"])
    ct = fit_clumping_thresholding(gw, idx, g[:, val], y[val])
    assert isinstance(ct, PolygenicScore) and len(ct.validation) == 11
    assert ct.parameter == ct.validation.loc[ct.validation["r2"].idxmax(), "threshold"]
    r_ct = np.corrcoef(polygenic_score(g[:, test], ct), polygenic[test])[0, 1]
    enet = fit_penalised_prs(g[:, train], y[train], g[:, val], y[val], variant_index=idx[gw["p"][idx] < 0.05])
    r_enet = np.corrcoef(polygenic_score(g[:, test], enet), polygenic[test])[0, 1]
    null = PolygenicScore(ct.variant_index, rng.permutation(ct.weights), "shuffled", 0.0, pd.DataFrame())
    r_null = np.corrcoef(polygenic_score(g[:, test], null), polygenic[test])[0, 1]
    assert r_ct > 0.3 and r_enet > 0.3
    assert abs(r_null) < 0.15


def test_expected_accuracy_formulas():
    # Daetwyler et al. (2008): r2 = h2 / (1 + Me / (N h2)); Goddard (2009): Me = 2 Ne L / ln(4 Ne L)
    assert daetwyler_expected_r2(0.5, 4000, 2000) == pytest.approx(0.5 / 2)
    assert effective_number_of_segments(1000, 30) == pytest.approx(60_000 / math.log(120_000))
    # with the sample prevalence equal to K, Lee et al.'s conversion is the Dempster-Lerner factor
    k = 0.05
    z = stats.norm.pdf(stats.norm.isf(k))
    assert observed_to_liability_r2(0.02, k, k) == pytest.approx(0.02 * k * (1 - k) / z**2)
    with pytest.raises(MedaiInputError, match="h2"):
        daetwyler_expected_r2(0.0, 100, 10)


def test_polygenic_score_rejects_other_variant_sets(prepared):
    score = PolygenicScore(np.array([len(prepared["variants"]) + 5]), np.array([1.0]), "x", 0.0, pd.DataFrame())
    with pytest.raises(MedaiInputError, match="same .*variant set"):
        polygenic_score(prepared["g"], score)


# --- plots --------------------------------------------------------------------------------------------------

def test_plots_return_axes_and_figure(prepared, tmp_path):
    import matplotlib.pyplot as plt

    g, variants, pca = prepared["g"], prepared["variants"], prepared["pca"]
    y = prepared["samples"]["case"].to_numpy()
    raw = run_gwas(g, y, method="logistic")
    adj = run_gwas(g, y, covariates=pca.components, method="logistic")
    ax = plot_manhattan(adj, variants, highlight=prepared["causal_rows"])
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(variants) + len(prepared["causal_rows"])
    ax = plot_qq(raw["p"], label="raw")
    assert f"{genomic_inflation(raw['p']):.2f}" in ax.get_legend().get_texts()[0].get_text()
    groups = prepared["samples"]["ancestry_group"].to_numpy()
    ax = plot_pca(pca.components, groups, explained_variance_ratio=pca.explained_variance_ratio)
    assert ax.get_legend().get_title().get_text() == "genetic ancestry group"
    fig = plot_gwas_summary(raw, adj, variants, pca, groups, highlight=prepared["causal_rows"],
                            null_mask=prepared["far"])
    fig.savefig(tmp_path / "gwas.png", dpi=40)
    assert len(fig.axes) == 4
    plt.close("all")
    with pytest.raises(MedaiInputError, match="same rows"):
        plot_manhattan(adj.iloc[:-1], variants)
