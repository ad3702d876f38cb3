"""Sample checks a genotyping laboratory runs before any association study: inbreeding coefficient F
(excess homozygosity or a contaminated sample), KING-robust kinship (duplicates and relatives) and genetic
sex from chromosome X, checked on a pedigree built from simulated founders against the published
expectations (KING: 0.5 duplicates, 0.25 first degree, 0.125 second degree; F = 0.25 for a child of two
full siblings; X-chromosome F near 1 in men, near 0 in women)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medai_lib.cancer import LiabilityModel, make_cancer_cohort
from medai_lib.cancer.qc import check_sex, king_kinship, related_pairs, sample_inbreeding, sample_qc
from medai_lib.errors import MedaiInputError


def _child(rng, mother, father):
    """One allele from each parent at every variant (independent transmission; int8 (n_variants, 2))."""
    pick_m = rng.integers(0, 2, len(mother))
    pick_f = rng.integers(0, 2, len(father))
    rows = np.arange(len(mother))
    return np.stack([mother[rows, pick_m], father[rows, pick_f]], axis=1).astype(np.int8)


@pytest.fixture(scope="module")
def pedigree():
    cohort = make_cancer_cohort(300, n_chromosomes=2, chromosome_length=1e7, random_state=7,
                                model=LiabilityModel(n_causal=40, n_rare=1))
    g = cohort.genotypes.copy()
    groups = cohort.samples["ancestry_group"].to_numpy()
    # founders: group_A people with ordinary heterozygosity (msprime's coalescent gives a few people long
    # runs of homozygosity, as small populations do: they would blur the expected values)
    het = sample_qc(g)["heterozygosity"].to_numpy()
    a_all = np.flatnonzero(groups == "group_A")
    typical = np.abs(het[a_all] / np.median(het[a_all]) - 1) < 0.05
    a_people = a_all[typical]
    mother, father, spouse, other = a_people[:4]
    rng = np.random.default_rng(0)
    sib1 = _child(rng, g[:, mother], g[:, father])
    sib2 = _child(rng, g[:, mother], g[:, father])
    grandchild = _child(rng, sib1, g[:, spouse])
    inbred = _child(rng, sib1, sib2)                   # child of two full siblings: F = 1/4
    duplicate = g[:, other].copy()
    mix = g[:, a_people[5]].copy()                     # DNA of two people mixed: heterozygous where they differ
    differs = (g[:, a_people[5]].sum(axis=1) != g[:, a_people[6]].sum(axis=1)) & (g[:, a_people[5]].min(axis=1) >= 0) \
        & (g[:, a_people[6]].min(axis=1) >= 0)
    mix[differs] = [0, 1]
    extra = np.stack([sib1, sib2, grandchild, inbred, duplicate, mix], axis=1)
    genotypes = np.concatenate([g, extra], axis=1)
    n = g.shape[1]
    names = {"mother": mother, "father": father, "spouse": spouse, "other": other, "sib1": n, "sib2": n + 1,
             "grandchild": n + 2, "inbred": n + 3, "duplicate": n + 4, "mix": n + 5}
    return genotypes, np.r_[groups, ["group_A"] * 6], names


def test_king_kinship_matches_the_published_expectations(pedigree):
    genotypes, groups, who = pedigree
    phi = king_kinship(genotypes)
    assert phi[who["other"], who["duplicate"]] == pytest.approx(0.5, abs=0.02)
    for a, b in (("mother", "sib1"), ("father", "sib2"), ("sib1", "sib2")):
        assert phi[who[a], who[b]] == pytest.approx(0.25, abs=0.05), (a, b)
    # second degree: each grandparent's value moves with the alleles transmitted; their mean is steadier
    grand = (phi[who["mother"], who["grandchild"]] + phi[who["father"], who["grandchild"]]) / 2
    assert grand == pytest.approx(0.125, abs=0.04)
    unrelated = phi[np.ix_(np.flatnonzero(groups == "group_A")[10:60], np.flatnonzero(groups == "group_A")[10:60])]
    off = unrelated[~np.eye(len(unrelated), dtype=bool)]
    # a few thousand variants (a real array has hundreds of thousands): unrelated pairs scatter around 0,
    # rarely as far as the second-degree cut-off
    assert np.abs(np.median(off)) < 0.02 and np.quantile(off, 0.99) < 0.0884
    np.testing.assert_allclose(phi, phi.T)


def test_related_pairs_names_degrees_and_leaves_one_out(pedigree):
    genotypes, _, who = pedigree
    missing = np.zeros(genotypes.shape[1])
    missing[who["duplicate"]] = 0.01
    pairs = related_pairs(genotypes, missing_rate=missing)
    found = {frozenset((int(a), int(b))): r for a, b, r in pairs[["sample_1", "sample_2", "relationship"]].itertuples(index=False)}
    assert found[frozenset((who["other"], who["duplicate"]))] == "duplicate or monozygotic twin"
    assert found[frozenset((who["mother"], who["sib1"]))] == "first degree"
    assert found[frozenset((who["sib1"], who["sib2"]))] == "first degree"
    assert {found.get(frozenset((who[k], who["grandchild"]))) for k in ("mother", "father")} & {"second degree"}
    dup = pairs[pairs["relationship"].str.startswith("duplicate")].iloc[0]
    assert dup["leave_out"] == str(who["duplicate"])   # the one with more missing calls
    assert pairs["kinship"].is_monotonic_decreasing


def test_inbreeding_coefficient_flags_inbred_and_contaminated_samples(pedigree):
    genotypes, groups, who = pedigree
    table = sample_inbreeding(genotypes, groups=groups)
    assert table.loc[who["inbred"], "F"] == pytest.approx(0.25, abs=0.06)
    assert table.loc[who["mix"], "F"] < -0.3 and table.loc[who["mix"], "outlier"]
    ordinary = table.drop(index=[who["inbred"], who["mix"]])
    assert abs(ordinary["F"].median()) < 0.03 and ordinary["outlier"].mean() < 0.02
    # pooled allele frequencies make the smaller group look inbred (the same Wahlund effect as HWE)
    pooled = sample_inbreeding(genotypes)
    b = groups == "group_B"
    assert pooled.loc[b, "F"].median() > table.loc[b, "F"].median() + 0.02
    with pytest.raises(MedaiInputError, match="one entry per sample"):
        sample_inbreeding(genotypes, groups=groups[:5])


def test_sex_check_from_chromosome_x():
    rng = np.random.default_rng(3)
    n, m = 200, 400
    p = rng.uniform(0.05, 0.5, m)
    sex = np.where(rng.random(n) < 0.5, "male", "female")
    alleles = (rng.random((m, n, 2)) < p[:, None, None]).astype(np.int8)
    male = sex == "male"
    alleles[:, male, 1] = alleles[:, male, 0]         # one X: homozygous calls
    alleles[rng.random((m, n)) < 0.01] = -1           # a few failed calls
    variants = pd.DataFrame({"chrom": ["X"] * m})
    recorded = sex.copy()
    recorded[[0, 1]] = np.where(sex[[0, 1]] == "male", "female", "male")   # a swapped pair of records
    table = check_sex(alleles, variants, recorded)
    assert (table["genetic_sex"].to_numpy() == sex).all()
    assert table["mismatch"].to_numpy().nonzero()[0].tolist() == [0, 1]
    assert table.loc[male, "F"].min() > 0.8 and table.loc[~male, "F"].max() < 0.2
    coded = check_sex(alleles, variants, (recorded == "male").astype(int))   # 1 = male, as the phenotype table
    assert coded["mismatch"].sum() == 2
    autosomal = check_sex(alleles, variants.assign(chrom="1"), recorded)
    assert (autosomal["genetic_sex"] == "no X data").all() and not autosomal["mismatch"].any()
