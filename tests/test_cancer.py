"""Cancer cohort simulator: structure, realism (Fst, LD decay, HWE, SFS), phenotype model and ground truth."""
from __future__ import annotations

import allel
import numpy as np
import pytest

from medai_lib.cancer import LiabilityModel, distance_to_causal, make_cancer_cohort
from medai_lib.errors import MedaiInputError

MODEL = LiabilityModel(n_causal=150, n_rare=3, group_shift=(0.0, 0.5))


@pytest.fixture(scope="module")
def cohort():
    return make_cancer_cohort(800, n_chromosomes=4, chromosome_length=5e6,
                              populations={"group_A": 0.5, "group_B": 0.5}, model=MODEL, random_state=3)


def _groups(c):
    return c.samples["ancestry_group"].to_numpy()


def test_shapes_columns_and_alleles(cohort):
    g = cohort.genotypes
    assert g.dtype == np.int8 and g.ndim == 3 and g.shape[1:] == (800, 2)
    assert set(np.unique(g)) <= {-1, 0, 1}
    assert len(cohort.variants) == g.shape[0] > 2000
    assert list(cohort.variants.columns) == ["chrom", "pos", "id", "ref", "alt"]
    assert (cohort.variants["ref"] != cohort.variants["alt"]).all()
    for _, pos in cohort.variants.groupby("chrom")["pos"]:
        assert pos.min() >= 1 and pos.is_monotonic_increasing
    expected = {"sample_id", "ancestry_group", "sex", "age", "smoking", "family_history", "case",
                "age_at_diagnosis", "event_age"}
    assert expected <= set(cohort.samples.columns)
    assert cohort.samples["sample_id"].is_unique


def test_missing_calls_are_a_few_percent_and_uneven(cohort):
    missing = cohort.genotypes[:, :, 0] < 0
    assert 0.01 < missing.mean() < 0.05
    assert np.array_equal(missing, cohort.genotypes[:, :, 1] < 0)  # a call is missing as a whole
    per_sample = missing.mean(axis=0)
    assert per_sample.max() > 3 * np.median(per_sample)  # a few bad samples for QC to catch


def test_same_seed_same_cohort_other_seed_other_cohort():
    kwargs = dict(n_chromosomes=1, chromosome_length=2e6, model=LiabilityModel(n_causal=20, n_rare=1))
    a = make_cancer_cohort(60, random_state=11, **kwargs)
    b = make_cancer_cohort(60, random_state=11, **kwargs)
    c = make_cancer_cohort(60, random_state=12, **kwargs)
    assert np.array_equal(a.genotypes, b.genotypes)
    assert a.samples.equals(b.samples) and a.variants.equals(b.variants)
    assert np.array_equal(a.truth.causal_index, b.truth.causal_index)
    assert a.genotypes.shape != c.genotypes.shape or not np.array_equal(a.genotypes, c.genotypes)


def test_fst_between_groups_in_plausible_range(cohort):
    g = allel.GenotypeArray(cohort.genotypes)
    groups = _groups(cohort)
    ac1 = g.count_alleles(subpop=np.flatnonzero(groups == "group_A"))
    ac2 = g.count_alleles(subpop=np.flatnonzero(groups == "group_B"))
    num, den = allel.hudson_fst(ac1, ac2)
    fst = np.nansum(num) / np.nansum(den)
    assert 0.02 <= fst <= 0.15
    # drift theory for a split T generations ago with size Ne: Fst ~ 1 - exp(-T / (2 Ne)) = 0.072
    assert fst == pytest.approx(1 - np.exp(-1500 / 20000), rel=0.5)


def test_ld_decays_with_distance(cohort):
    g = cohort.genotypes
    on_chrom = np.flatnonzero(cohort.variants["chrom"].to_numpy() == "1")
    gn = allel.GenotypeArray(g[on_chrom]).to_n_alt(fill=-1)
    freq = allel.GenotypeArray(g[on_chrom]).count_alleles().to_frequencies()[:, 1]
    common = np.flatnonzero((freq > 0.1) & (freq < 0.9))
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(common, size=min(400, len(common)), replace=False))
    r2 = allel.rogers_huff_r(gn[pick]) ** 2
    pos = cohort.variants["pos"].to_numpy()[on_chrom][pick]
    i, j = np.triu_indices(len(pick), k=1)
    dist = np.abs(pos[j] - pos[i])
    near, mid, far = np.nanmean(r2[dist < 20_000]), np.nanmean(r2[(dist > 200_000) & (dist < 500_000)]), \
        np.nanmean(r2[dist > 2_000_000])
    assert near > 2 * mid > 0
    assert mid > far
    assert far < 5 / 800  # unlinked SNPs: r2 ~ 1/n


def test_hardy_weinberg_holds_within_groups_and_fails_pooled(cohort):
    g = allel.GenotypeArray(cohort.genotypes)
    groups = _groups(cohort)
    freq = g.count_alleles().to_frequencies()[:, 1]
    common = (freq > 0.1) & (freq < 0.9)
    common[cohort.truth.genotyping_error_index] = False  # the population genetics of the true calls
    f_within = [np.nanmean(allel.inbreeding_coefficient(g.subset(common, groups == k)))
                for k in ("group_A", "group_B")]
    f_pooled = np.nanmean(allel.inbreeding_coefficient(g.subset(common)))
    assert all(abs(f) < 0.005 for f in f_within)
    assert f_pooled > 0.01  # Wahlund effect: heterozygote deficit in the mixed sample
    from medai_lib.cancer import variant_qc

    qc = variant_qc(cohort.genotypes[common], groups=groups)
    within_fail = (qc["hwe_p"] < 0.01).mean()
    assert within_fail < 0.04  # about the nominal 2 x 1% of two tests
    assert (qc["hwe_p_pooled"] < 0.01).mean() > 3 * within_fail


def test_calling_errors_fail_hardy_weinberg_within_groups_and_leave_the_rest_unchanged():
    from medai_lib.cancer import variant_qc

    kwargs = dict(n_chromosomes=3, chromosome_length=5e6, model=MODEL, published_gwas_n=None, random_state=3)
    c = make_cancer_cohort(1000, genotyping_error_rate=0.01, **kwargs)
    clean = make_cancer_cohort(1000, genotyping_error_rate=0.0, **kwargs)
    errors = c.truth.genotyping_error_index
    is_error = np.zeros(len(c.variants), bool)
    is_error[errors] = True
    assert 10 <= len(errors) <= 0.02 * len(c.variants)
    # Only the chosen variants change, and only heterozygote calls become homozygous.
    np.testing.assert_array_equal(c.genotypes[~is_error], clean.genotypes[~is_error])
    np.testing.assert_allclose(c.truth.liability, clean.truth.liability)
    before, after = clean.genotypes[errors], c.genotypes[errors]
    changed = (before != after).any(axis=2)
    assert changed.any() and (before[changed][:, 0] != before[changed][:, 1]).all()
    assert (after[changed][:, 0] == after[changed][:, 1]).all()
    # A deficit of heterozygotes that the within-group test at the usual 1e-6 catches at most of them,
    # while it flags almost no clean variant (the pooled test flags clean ones: the Wahlund effect).
    qc = variant_qc(c.genotypes, groups=_groups(c))
    flagged = (qc["hwe_p"] < 1e-6).to_numpy()
    assert (qc["het_observed"] < qc["het_expected"]).to_numpy()[errors].mean() > 0.9
    assert flagged[is_error].mean() > 0.5
    assert flagged[~is_error].mean() < 0.001
    assert ((qc["hwe_p_pooled"] < 1e-6).to_numpy() & ~is_error).sum() > flagged[~is_error].sum()


def test_site_frequency_spectrum_is_skewed_to_rare(cohort):
    ac = allel.GenotypeArray(cohort.genotypes).count_alleles()
    derived = ac[:, 1]  # binary mutation model: ALT is the derived allele
    sfs = allel.sfs(derived, n=2 * 800)
    assert sfs[1] > sfs[2] > sfs[5] > sfs[20]
    maf = np.minimum(derived, ac[:, 0]) / ac.sum(axis=1)
    assert (maf < 0.05).mean() > 0.5
    # neutral expectation xi_i ~ theta / i: singletons about twice doubletons
    assert 1.4 < sfs[1] / sfs[2] < 2.8


def test_phenotype_model_prevalence_confounding_and_truth(cohort):
    s, t = cohort.samples, cohort.truth
    groups = _groups(cohort)
    assert s["case"].mean() == pytest.approx(MODEL.prevalence, abs=0.005)
    assert np.array_equal(s["case"].to_numpy() == 1, t.liability > t.threshold)
    shift = t.covariate_liability[groups == "group_B"].mean() - t.covariate_liability[groups == "group_A"].mean()
    assert shift == pytest.approx(MODEL.group_shift[1], abs=0.1)
    assert s.loc[groups == "group_B", "case"].mean() > 1.5 * s.loc[groups == "group_A", "case"].mean()
    for k in ("group_A", "group_B"):
        assert np.var(t.polygenic_liability[groups == k]) == pytest.approx(MODEL.h2, rel=0.25)
    assert len(t.causal_index) == MODEL.n_causal and len(t.rare_index) == MODEL.n_rare
    assert set(cohort.variants["chrom"].iloc[t.causal_index]) <= set(t.causal_chromosomes)
    # the oracle risk separates cases better than genetics alone, which beats nothing
    from sklearn.metrics import roc_auc_score

    auc_risk = roc_auc_score(s["case"], t.risk)
    auc_genetic = roc_auc_score(s["case"], t.genetic_liability)
    assert 0.75 < auc_genetic < auc_risk < 0.99
    dx = s["age_at_diagnosis"].to_numpy()
    assert np.all(np.isnan(dx[s["case"] == 0]))
    assert np.all((dx[s["case"] == 1] >= 30) & (dx[s["case"] == 1] <= s["age"][s["case"] == 1]))
    assert s.loc[s["family_history"] == 1, "case"].mean() > s.loc[s["family_history"] == 0, "case"].mean()


def test_truth_effects_reproduce_genetic_liability_without_missing_calls():
    model = LiabilityModel(n_causal=40, n_rare=2, rare_effect=3.0)
    c = make_cancer_cohort(300, n_chromosomes=2, chromosome_length=3e6, missing_rate=0.0,
                           genotyping_error_rate=0.0, model=model, random_state=5)
    t = c.truth
    dose = c.genotypes[t.causal_index].sum(axis=2).astype(float)
    poly = t.causal_effect @ dose
    groups = _groups(c)
    for k in np.unique(groups):
        m = groups == k
        np.testing.assert_allclose(poly[m] - poly[m].mean(), t.polygenic_liability[m], atol=1e-9)
    rare = c.genotypes[t.rare_index].sum(axis=(0, 2)) * model.rare_effect
    np.testing.assert_allclose(t.genetic_liability - t.polygenic_liability, rare)
    freq = c.genotypes[t.rare_index].mean(axis=(1, 2))
    assert np.all((freq > 0.0005) & (freq < 0.004))


def test_distance_to_causal_against_brute_force(cohort):
    idx = cohort.truth.causal_index
    d = distance_to_causal(cohort.variants, idx)
    chrom = cohort.variants["chrom"].to_numpy()
    pos = cohort.variants["pos"].to_numpy()
    rng = np.random.default_rng(0)
    for row in rng.choice(len(pos), 50, replace=False):
        same = idx[chrom[idx] == chrom[row]]
        expected = np.abs(pos[same] - pos[row]).min() if len(same) else np.inf
        assert d[row] == expected
    assert np.isinf(d[chrom == "4"]).all()  # null chromosomes (2 of 4 carry causal variants)


@pytest.mark.parametrize("kwargs, match", [
    ({"populations": {"group_A": 1.0}}, "populations"),
    ({"populations": {"group_A": 0.5, "group_B": 0.6}}, "sum to 1"),
    ({"n_chromosomes": 0}, "n_chromosomes"),
    ({"missing_rate": 0.5}, "missing_rate"),
    ({"genotyping_error_rate": 0.2}, "genotyping_error_rate"),
    ({"model": LiabilityModel(n_causal=100_000)}, "n_causal"),
    ({"model": LiabilityModel(h2=0.95)}, "h2"),
    ({"n_causal_chromosomes": 3, "n_chromosomes": 2}, "n_causal_chromosomes"),
])
def test_bad_parameters_raise_clear_errors(kwargs, match):
    base = dict(n_chromosomes=1, chromosome_length=1e6)
    base.update(kwargs)
    with pytest.raises(MedaiInputError, match=match):
        make_cancer_cohort(40, **base)


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="n_individuals"):
        make_cancer_cohort(40.5)
    with pytest.raises(TypeError, match="model"):
        make_cancer_cohort(40, n_chromosomes=1, chromosome_length=1e6, model={"h2": 0.3})


def test_incidence_rises_with_age_and_high_risk_cases_are_diagnosed_earlier():
    """Real cancer incidence rises steeply with age (SEER Cancer Stat Facts: all sites, from about 2 per 1,000
    person-years in the 40s to over 20 in the 70s; median age at diagnosis about 66), and early onset marks
    hereditary cancer (carriers of a high-penetrance variant). The cohort is followed to 80 at most, so its
    median age at diagnosis is lower."""
    model = LiabilityModel(n_causal=50)
    c = make_cancer_cohort(4000, n_chromosomes=1, chromosome_length=2e6, model=model, random_state=21)
    s = c.samples
    case = s["case"].to_numpy() == 1
    end = s["event_age"].to_numpy()
    rate = {}
    for lo in (40, 50, 60, 70):   # diagnoses per 1,000 person-years in each decade of age
        person_years = (np.clip(end, lo, lo + 10) - lo).sum()
        rate[lo] = 1000 * np.sum(case & (end >= lo) & (end < lo + 10)) / person_years
    assert rate[40] < rate[50] < rate[60] and rate[50] < rate[70]
    assert rate[70] > 2.5 * rate[40]
    assert np.median(s.loc[case, "age_at_diagnosis"]) > 52
    # carriers of the rare high-penetrance variants (hereditary cancer) are diagnosed earlier than other cases
    calls = c.genotypes[c.truth.rare_index]
    carrier = (np.where(calls < 0, 0, calls).sum(axis=2) > 0).any(axis=0)
    dx = s["age_at_diagnosis"].to_numpy()
    assert (case & carrier).sum() >= 10
    assert np.median(dx[case & carrier]) < np.median(dx[case & ~carrier]) - 5


def test_rare_variants_have_incomplete_penetrance_and_realistic_carrier_frequency():
    """Pathogenic BRCA1/2 variants are carried by about 1 in 190 people (Manickam et al., JAMA Netw Open 2018)
    and are not fully penetrant: cumulative breast cancer risk by 80 about 72% (BRCA1) and 69% (BRCA2),
    Kuchenbaecker et al., JAMA 2017. In a cohort aged 40 to 80, fewer carriers have been diagnosed yet."""
    c = make_cancer_cohort(4000, n_chromosomes=2, chromosome_length=4e6, model=LiabilityModel(n_causal=80),
                           random_state=22)
    calls = c.genotypes[c.truth.rare_index]
    carrier = (np.where(calls < 0, 0, calls).sum(axis=2) > 0).any(axis=0)
    case = c.samples["case"].to_numpy() == 1
    assert 1 / 400 < carrier.mean() < 1 / 60
    penetrance = case[carrier].mean()
    assert 0.3 < penetrance < 0.8, penetrance
    assert penetrance > 3 * case[~carrier].mean()
