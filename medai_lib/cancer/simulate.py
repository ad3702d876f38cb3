"""Synthetic genotype cohorts for the cancer track: msprime coalescent genomes of several genetic ancestry
groups, a liability-threshold cancer phenotype with clinical covariates, and the ground truth behind both.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from scipy import special

from medai_lib.errors import MedaiInputError

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 8  # 2: default group_shift lowered to (0.0, 0.15, 0.08); 4: published GWAS summary
# statistics and known pathogenic variants written with the cohort, effects ~ [2p(1-p)]^(alpha/2) with
# alpha = -0.4, rare variants rare in every group, group_shift (0.0, 0.45, 0.25); 5: h2 0.5 -> 0.3;
# 6: genotype calling errors (heterozygotes called homozygous) at a few common variants; 7: age at
# diagnosis from an incidence rising with age (case status, genotypes and everything else unchanged);
# 8: rare variants with incomplete penetrance (rare_effect 2.5 -> 1.5, frequency below 0.004, not 0.01),
# carriers diagnosed early whatever the rest of their liability
_BASES = np.array(list("ACGT"))
# Derived-allele frequency range of the rare high-penetrance variants, in the cohort and in every group.
_RARE_FREQ = (0.0005, 0.004)


@dataclass(frozen=True)
class LiabilityModel:
    """Stated parameters of the liability-threshold cancer model.

    Liability = polygenic genetic liability + rare high-penetrance variants + covariates
    (age, sex, smoking) + ancestry-group baseline + environmental noise; a person is a case when the
    liability exceeds the threshold that gives ``prevalence`` in the cohort.

    Parameters
    ----------
    h2 : float, default 0.3
        Variance of the polygenic genetic liability within groups (it is centred in each group, so that
        the group baseline differences are exactly ``group_shift``). The residual noise is set so that
        the total liability variance, without the group baseline, is 1: ``h2`` is then the heritability
        of the polygenic part on the liability scale. 0.3 is in the range of twin heritability of common
        cancers (about 0.2 to 0.6, Mucci et al., JAMA 2016); a published score then has a hazard ratio of
        about 2.4 per SD (Cox model, 5,000 people: bench/results/cancer_risk.md), against 1.3 to 2 for real
        cancer scores.
    n_causal : int, default 600
        Causal common SNPs (minor allele frequency >= ``causal_min_maf``), effects of small size drawn from
        a normal distribution on the standardised-genotype scale.
    causal_min_maf : float, default 0.01
    n_rare : int, default 3
        Rare high-penetrance variants (BRCA-like): derived allele frequency in (0.0005, 0.004) in the
        cohort and in every group, so that about 1 person in 100 to 200 carries one (pathogenic BRCA1/2
        variants: about 1 in 190, Manickam et al., JAMA Netw Open 2018).
    rare_effect : float, default 1.5
        Liability shift per carried rare allele (liability standard deviations). 1.5 gives incomplete
        penetrance: about half of the carriers of the 40-to-80 cohort have been diagnosed (against about
        1 in 10 of the others), and carriers are diagnosed about 10 years younger. For comparison, the
        cumulative breast cancer risk by 80 is about 72% for BRCA1 and 69% for BRCA2 carriers
        (Kuchenbaecker et al., JAMA 2017).
    prevalence : float, default 0.10
        Fraction of cases in the cohort.
    age_effect : float, default 0.15
        Liability per decade of age above 60.
    sex_effect : float, default 0.15
        Liability shift for ``sex == "male"``.
    smoking_effect : float, default 0.35
        Liability shift for ever-smokers.
    smoking_rate : float, default 0.25
    group_shift : tuple of float, default (0.0, 0.45, 0.25)
        Baseline liability of each genetic ancestry group, in the order of ``populations``. A non-zero
        difference confounds an uncorrected GWAS through population structure; the default gives
        group_B about twice group_A's cancer risk (real incidence differs between groups by factors of
        1.5 to 2 for several cancers) and an uncorrected genomic inflation above 1.2 for 5,000 people
        (bench/results/cancer.md).
    alpha : float, default -0.4
        Frequency dependence of causal effects: the variance of a per-allele effect is proportional to
        ``[2p(1-p)]^alpha`` (``p`` the pooled allele frequency). ``-1`` gives every causal SNP the same
        expected share of the heritability, so low-frequency SNPs get large effects; real traits fit about
        -0.4 (Schoech et al. 2019, natural selection keeps low-frequency effects smaller). With -1 the
        variants that are rare in one group but common in another dominate that group's liability and a
        score trained elsewhere loses almost all its accuracy there.
    """

    h2: float = 0.3
    n_causal: int = 600
    causal_min_maf: float = 0.01
    n_rare: int = 3
    rare_effect: float = 1.5
    prevalence: float = 0.10
    age_effect: float = 0.15
    sex_effect: float = 0.15
    smoking_effect: float = 0.35
    smoking_rate: float = 0.25
    group_shift: tuple = (0.0, 0.45, 0.25)
    alpha: float = -0.4


@dataclass(frozen=True)
class CohortTruth:
    """Ground truth of a synthetic cohort (oracles for genetic-only and combined models).

    Attributes
    ----------
    causal_index : ndarray, int, shape (n_causal,)
        Row indices (into the cohort's variants) of the causal common SNPs.
    causal_effect : ndarray, float, shape (n_causal,)
        Liability per copy of the ALT allele at each causal SNP.
    rare_index : ndarray, int, shape (n_rare,)
        Row indices of the rare high-penetrance variants (their ALT allele is the risk allele).
    rare_effect : float
        Liability per copy of a rare risk allele.
    polygenic_liability : ndarray, float, shape (n_samples,)
        Common-SNP genetic liability, centred within each genetic ancestry group (so it equals
        ``dosage @ causal_effect`` minus a per-group constant).
    genetic_liability : ndarray, float, shape (n_samples,)
        Polygenic plus rare-variant liability: the oracle for a genetics-only model.
    covariate_liability : ndarray, float, shape (n_samples,)
        Age, sex, smoking and ancestry-group baseline contributions.
    liability : ndarray, float, shape (n_samples,)
        Total liability (genetic + covariates + noise): its threshold decides case status.
    threshold : float
        Liability threshold.
    risk : ndarray, float, shape (n_samples,)
        P(case | genetic and covariate liability): the oracle for a combined model.
    model : LiabilityModel
        The parameters used.
    causal_chromosomes : tuple of str
        Chromosomes that carry causal variants; the others carry none (null chromosomes).
    genotyping_error_index : ndarray, int, shape (n_errors,)
        Row indices of the variants whose calls carry a clustering error (a share of heterozygotes
        called homozygous): what the within-group Hardy-Weinberg filter of QC is there to catch.
    """

    causal_index: np.ndarray
    causal_effect: np.ndarray
    rare_index: np.ndarray
    rare_effect: float
    polygenic_liability: np.ndarray
    genetic_liability: np.ndarray
    covariate_liability: np.ndarray
    liability: np.ndarray
    threshold: float
    risk: np.ndarray
    model: LiabilityModel
    causal_chromosomes: tuple
    genotyping_error_index: np.ndarray = field(default_factory=lambda: np.array([], dtype=int))


@dataclass(frozen=True)
class CancerCohort:
    """A synthetic genotyped cohort.

    Attributes
    ----------
    genotypes : ndarray, int8, shape (n_variants, n_samples, 2)
        Phased diploid calls (0 = REF, 1 = ALT, -1 = missing), scikit-allel's layout.
    variants : DataFrame, n_variants rows
        ``chrom`` (str), ``pos`` (1-based int), ``id``, ``ref``, ``alt``.
    samples : DataFrame, n_samples rows
        ``sample_id``, ``ancestry_group``, ``sex``, ``age`` (end of follow-up), ``smoking``,
        ``family_history``, ``case``, ``age_at_diagnosis`` (NaN for controls), ``event_age``
        (diagnosis or censoring age).
    truth : CohortTruth
    demography : dict
        The msprime parameters (effective sizes, split time, rates, chromosome lengths).
    summary_statistics : DataFrame or None
        Summary statistics of a large "published" GWAS of the first genetic ancestry group (see
        :mod:`medai_lib.cancer.sumstats`), one row per variant polymorphic in that group.
    pathogenic_variants : DataFrame or None
        The known pathogenic (rare, high-penetrance) variants, as a gene-panel lab lists them.
    """

    genotypes: np.ndarray
    variants: pd.DataFrame
    samples: pd.DataFrame
    truth: CohortTruth
    demography: dict = field(default_factory=dict)
    summary_statistics: "pd.DataFrame | None" = None
    pathogenic_variants: "pd.DataFrame | None" = None


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"'{name}' must be an int >= {minimum}; got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise MedaiInputError(f"'{name}' must be an int >= {minimum}; got {value}. Pass a larger value.")
    return int(value)


def _check_populations(populations) -> dict[str, float]:
    if not isinstance(populations, Mapping) or not 2 <= len(populations) <= 3:
        raise MedaiInputError(
            "'populations' must map 2 or 3 genetic ancestry group names to their fractions of the cohort, "
            f"e.g. {{'group_A': 0.8, 'group_B': 0.2}}; got {populations!r}."
        )
    fractions = np.array([float(v) for v in populations.values()])
    if np.any(fractions <= 0) or not math.isclose(fractions.sum(), 1.0, abs_tol=1e-6):
        raise MedaiInputError(
            f"'populations' fractions must be positive and sum to 1; got {dict(populations)!r}."
        )
    for name in populations:
        if not isinstance(name, str) or not name.isidentifier():
            raise MedaiInputError(
                f"'populations' keys must be simple names (letters, digits, '_'); got {name!r}."
            )
    return {str(k): float(v) for k, v in populations.items()}


def _simulate_chromosome(msprime, demography, group_sizes, *, length, recombination_rate,
                         mutation_rate, seed):
    ts = msprime.sim_ancestry(
        samples=group_sizes, demography=demography, sequence_length=length,
        recombination_rate=recombination_rate, random_seed=seed,
    )
    ts = msprime.sim_mutations(
        ts, rate=mutation_rate, model=msprime.BinaryMutationModel(), random_seed=seed,
        discrete_genome=True,
    )
    haplotypes = ts.genotype_matrix()  # (n_sites, 2 * n_individuals), sample nodes in individual order
    positions = ts.tables.sites.position.astype(np.int64)
    keep = haplotypes.max(axis=1) == 1  # drop sites that ended up monomorphic (back-mutation)
    return haplotypes[keep].astype(np.int8), positions[keep]


def make_cancer_cohort(
    n_individuals: int = 2000,
    *,
    n_chromosomes: int = 10,
    chromosome_length: float = 10_000_000,
    populations: Mapping[str, float] | None = None,
    effective_size: float = 10_000,
    split_time: float = 1_500,
    recombination_rate: float = 1e-8,
    mutation_rate: float = 1.2e-9,
    n_causal_chromosomes: int | None = None,
    missing_rate: float = 0.02,
    genotyping_error_rate: float = 0.004,
    model: LiabilityModel | None = None,
    published_gwas_n: float | None = 100_000,
    random_state: "int | np.random.Generator | None" = 0,
) -> CancerCohort:
    """Simulate a genotyped cancer cohort with genetic ancestry groups and a liability-threshold phenotype.

    Genomes come from msprime's coalescent with recombination: an ancestral population of
    ``effective_size`` splits ``split_time`` generations ago into the groups of ``populations`` (each of
    the same size), giving Fst of about ``1 - exp(-split_time / (2 * effective_size))`` (0.07 by default).
    Each chromosome is an independent simulation; mutations follow a binary (biallelic) model. The
    mutation rate is scaled down (1.2e-9) to keep about 7,000 SNPs per 10 Mb chromosome for 5,000
    people; LD, Fst and the allele-frequency spectrum depend on size, split time and recombination,
    not on the mutation rate. Causal variants lie on the first ``n_causal_chromosomes`` chromosomes; the
    others are null chromosomes (useful to measure genomic inflation away from true signal).

    Parameters
    ----------
    n_individuals : int, default 2000
        Diploid people (>= 20).
    n_chromosomes : int, default 10
    chromosome_length : float, default 1e7
        Base pairs per chromosome (1e7 bp at r = 1e-8 is 10 cM).
    populations : dict of str to float, optional
        Genetic ancestry groups and their fractions of the cohort; default
        ``{"group_A": 0.8, "group_B": 0.2}``.
    effective_size, split_time, recombination_rate, mutation_rate : float
        Demographic and genetic parameters (diploid effective size per group, generations, per bp per
        generation).
    n_causal_chromosomes : int, optional
        Chromosomes carrying causal variants; default half of them (at least one).
    missing_rate : float, default 0.02
        Mean fraction of missing calls; missingness varies by sample and by variant, and a few samples
        and variants are much worse (what QC must catch).
    genotyping_error_rate : float, default 0.004
        Share of the common variants (minor allele frequency >= 5%) whose genotype clusters are badly
        separated on the array: 30% to 90% of their heterozygotes are called homozygous for the major
        allele, a deficit of heterozygotes that fails Hardy-Weinberg within each genetic ancestry group
        (what that QC filter is for). The phenotype, and the published GWAS, follow the true genotypes;
        ``truth.genotyping_error_index`` lists the variants.
    model : LiabilityModel, optional
        Phenotype parameters; default ``LiabilityModel()``.
    published_gwas_n : float or None, default 100000
        Effective sample size of a large external ("published", consortium) GWAS of the first genetic
        ancestry group, whose summary statistics come with the cohort: marginal effects drawn as
        Normal(R beta, R / N) with the LD R of that group's people in this cohort (the reference panel),
        see :mod:`medai_lib.cancer.sumstats`. ``None`` skips them (as does a first group of fewer than
        50 people, too few for a reference panel).
    random_state : int, numpy Generator or None, default 0
        Same value, same cohort.

    Returns
    -------
    CancerCohort
        ``genotypes`` shape (n_variants, n_individuals, 2), ``variants``, ``samples`` and ``truth``.

    Examples
    --------
    >>> from medai_lib.cancer import make_cancer_cohort, LiabilityModel
    >>> cohort = make_cancer_cohort(200, n_chromosomes=2, chromosome_length=2e6,
    ...                             model=LiabilityModel(n_causal=50), random_state=1)
    >>> cohort.genotypes.shape[1:]
    (200, 2)
    >>> sorted(cohort.samples["ancestry_group"].unique())
    ['group_A', 'group_B']
    """
    import msprime

    n_individuals = _check_int("n_individuals", n_individuals, 20)
    n_chromosomes = _check_int("n_chromosomes", n_chromosomes, 1)
    populations = _check_populations(populations if populations is not None
                                     else {"group_A": 0.8, "group_B": 0.2})
    for name, value, low in (("chromosome_length", chromosome_length, 1e4),
                             ("effective_size", effective_size, 10), ("split_time", split_time, 1)):
        if not np.isfinite(value) or value < low:
            raise MedaiInputError(f"'{name}' must be a number >= {low:g}; got {value!r}.")
    for name, value in (("recombination_rate", recombination_rate), ("mutation_rate", mutation_rate)):
        if not 0 < value < 1e-5:
            raise MedaiInputError(f"'{name}' must be a per-bp rate in (0, 1e-5); got {value!r}.")
    if not 0 <= missing_rate < 0.2:
        raise MedaiInputError(f"'missing_rate' must be in [0, 0.2); got {missing_rate!r}.")
    if not 0 <= genotyping_error_rate < 0.1:
        raise MedaiInputError(f"'genotyping_error_rate' must be in [0, 0.1); got {genotyping_error_rate!r}.")
    model = model if model is not None else LiabilityModel()
    if not isinstance(model, LiabilityModel):
        raise TypeError(f"'model' must be a LiabilityModel; got {type(model).__name__}.")
    if not 0 < model.h2 < 0.9:
        raise MedaiInputError(f"'model.h2' must be in (0, 0.9); got {model.h2!r}.")
    if not -2 <= model.alpha <= 0:
        raise MedaiInputError(f"'model.alpha' must be in [-2, 0]; got {model.alpha!r}.")
    if published_gwas_n is not None and not (np.isfinite(published_gwas_n) and published_gwas_n >= 100):
        raise MedaiInputError(f"'published_gwas_n' must be a sample size >= 100 or None; got {published_gwas_n!r}.")
    if not 0 < model.prevalence < 0.5:
        raise MedaiInputError(f"'model.prevalence' must be in (0, 0.5); got {model.prevalence!r}.")
    if len(model.group_shift) < len(populations):
        raise MedaiInputError(
            f"'model.group_shift' has {len(model.group_shift)} values for {len(populations)} groups; "
            "give one baseline liability per group."
        )
    if n_causal_chromosomes is None:
        n_causal_chromosomes = max(1, n_chromosomes // 2)
    n_causal_chromosomes = _check_int("n_causal_chromosomes", n_causal_chromosomes, 1)
    if n_causal_chromosomes > n_chromosomes:
        raise MedaiInputError(
            f"'n_causal_chromosomes' ({n_causal_chromosomes}) cannot exceed 'n_chromosomes' ({n_chromosomes})."
        )

    rng = np.random.default_rng(random_state)
    # Calling errors draw from their own stream: the rest of the cohort is the same with or without them.
    error_rng = rng.spawn(1)[0]
    names = list(populations)
    counts = np.floor(np.array(list(populations.values())) * n_individuals).astype(int)
    counts[0] += n_individuals - counts.sum()
    if np.any(counts < 2):
        raise MedaiInputError(
            f"every genetic ancestry group needs >= 2 people; {n_individuals} people split as "
            f"{dict(zip(names, counts.tolist()))}. Increase 'n_individuals'."
        )

    demography = msprime.Demography()
    for name in names:
        demography.add_population(name=name, initial_size=effective_size)
    demography.add_population(name="ancestral", initial_size=effective_size)
    demography.add_population_split(time=split_time, derived=names, ancestral="ancestral")
    group_sizes = {name: int(c) for name, c in zip(names, counts)}

    # Individuals are simulated grouped by population; a fixed shuffle interleaves them as in real files.
    order = rng.permutation(n_individuals)
    groups_sim = np.repeat(np.arange(len(names)), counts)
    group_index = groups_sim[order]
    seeds = rng.integers(1, 2**31 - 1, size=n_chromosomes)

    genotype_blocks, variant_blocks = [], []
    for c in range(n_chromosomes):
        hap, pos = _simulate_chromosome(
            msprime, demography, group_sizes, length=chromosome_length,
            recombination_rate=recombination_rate, mutation_rate=mutation_rate, seed=int(seeds[c]),
        )
        g = hap.reshape(hap.shape[0], n_individuals, 2)[:, order, :]
        genotype_blocks.append(np.ascontiguousarray(g))
        variant_blocks.append(pd.DataFrame({"chrom": str(c + 1), "pos": pos + 1}))  # VCF is 1-based
        logger.info("chromosome %d: %d SNPs", c + 1, len(pos))
    genotypes = np.concatenate(genotype_blocks, axis=0)
    del genotype_blocks
    variants = pd.concat(variant_blocks, ignore_index=True)
    n_variants = len(variants)
    ref_code = rng.integers(0, 4, size=n_variants)
    alt_code = (ref_code + rng.integers(1, 4, size=n_variants)) % 4
    variants["id"] = [f"snp{i + 1}" for i in range(n_variants)]
    variants["ref"] = _BASES[ref_code]
    variants["alt"] = _BASES[alt_code]
    variants = variants[["chrom", "pos", "id", "ref", "alt"]]

    samples, truth = _make_phenotype(genotypes, variants, group_index, names, model,
                                     n_causal_chromosomes, rng)
    _apply_missingness(genotypes, missing_rate, rng)
    summary_statistics = pathogenic = None
    if published_gwas_n is not None and counts[0] < 50:
        logger.warning("no published GWAS summary statistics: %s has %d people, a reference panel needs 50",
                       names[0], counts[0])
    elif published_gwas_n is not None:
        from medai_lib.cancer.sumstats import pathogenic_variant_table, simulate_summary_statistics

        joint = np.zeros(n_variants)
        joint[truth.causal_index] = truth.causal_effect
        joint[truth.rare_index] += truth.rare_effect
        summary_statistics = simulate_summary_statistics(
            genotypes, variants, joint, n_effective=published_gwas_n, reference=group_index == 0,
            random_state=rng)
        pathogenic = pathogenic_variant_table(variants, truth.rare_index)
    errors = _apply_calling_errors(genotypes, genotyping_error_rate, error_rng)
    truth = dataclasses.replace(truth, genotyping_error_index=errors)
    info = {
        "populations": populations, "effective_size": effective_size, "split_time": split_time,
        "recombination_rate": recombination_rate, "mutation_rate": mutation_rate,
        "n_chromosomes": n_chromosomes, "chromosome_length": chromosome_length,
        "genome_length_morgans": n_chromosomes * chromosome_length * recombination_rate,
        "published_gwas_group": names[0], "published_gwas_n": published_gwas_n,
    }
    return CancerCohort(genotypes=genotypes, variants=variants, samples=samples, truth=truth,
                        demography=info, summary_statistics=summary_statistics,
                        pathogenic_variants=pathogenic)


def _apply_calling_errors(genotypes: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Call a share of heterozygotes homozygous (major allele) at ``rate`` of the common variants, in place;
    returns their row indices."""
    if rate == 0:
        return np.array([], dtype=int)
    n_variants, n_samples, _ = genotypes.shape
    alt = np.empty(n_variants)
    step = max(1, 4_000_000 // max(n_samples, 1))  # chunks: no full-size temporary arrays
    for start in range(0, n_variants, step):
        block = genotypes[start:start + step]
        called = block >= 0
        alt[start:start + step] = (np.where(called, block, 0).sum(axis=(1, 2))
                                   / np.maximum(called.sum(axis=(1, 2)), 1))
    common = np.flatnonzero(np.minimum(alt, 1 - alt) >= 0.05)
    n_errors = int(round(rate * len(common)))
    if n_errors == 0:
        return np.array([], dtype=int)
    index = np.sort(rng.choice(common, size=n_errors, replace=False))
    for i in index:
        g = genotypes[i]
        het = (g[:, 0] != g[:, 1]) & (g[:, 0] >= 0) & (g[:, 1] >= 0)
        flip = het & (rng.random(len(het)) < rng.uniform(0.3, 0.9))
        g[flip] = 1 if alt[i] > 0.5 else 0
    return index


def _apply_missingness(genotypes: np.ndarray, missing_rate: float, rng: np.random.Generator) -> None:
    if missing_rate == 0:
        return
    n_variants, n_samples, _ = genotypes.shape
    sample_factor = rng.gamma(4.0, 0.25, size=n_samples).astype(np.float32)
    bad_samples = rng.random(n_samples) < 0.01
    sample_factor[bad_samples] *= 6.0
    variant_factor = rng.gamma(4.0, 0.25, size=n_variants).astype(np.float32)
    bad_variants = rng.random(n_variants) < 0.01
    variant_factor[bad_variants] *= 8.0
    step = max(1, 4_000_000 // max(n_samples, 1))
    for start in range(0, n_variants, step):
        stop = min(start + step, n_variants)
        prob = np.minimum(missing_rate * variant_factor[start:stop, None] * sample_factor[None, :], 0.6)
        missing = rng.random(prob.shape, dtype=np.float32) < prob
        genotypes[start:stop][missing] = -1


def _make_phenotype(genotypes, variants, group_index, names, model, n_causal_chromosomes, rng):
    n_samples = genotypes.shape[1]
    causal_chroms = tuple(str(c + 1) for c in range(n_causal_chromosomes))
    on_causal = variants["chrom"].isin(causal_chroms).to_numpy()
    alt_count = genotypes.sum(axis=(1, 2), dtype=np.int64)
    freq = alt_count / (2.0 * n_samples)
    maf = np.minimum(freq, 1 - freq)

    candidates = np.flatnonzero(on_causal & (maf >= model.causal_min_maf))
    if len(candidates) < model.n_causal:
        raise MedaiInputError(
            f"only {len(candidates)} SNPs with MAF >= {model.causal_min_maf} lie on the causal chromosomes, "
            f"fewer than model.n_causal={model.n_causal}. Simulate more or longer chromosomes, or lower "
            "n_causal."
        )
    causal = np.sort(rng.choice(candidates, size=model.n_causal, replace=False))
    std_effect = rng.normal(0.0, 1.0, size=model.n_causal)
    p = freq[causal]
    # per-allele effect variance proportional to [2p(1-p)]^alpha (alpha = -1: equal variance per SNP)
    effect = std_effect * (2 * p * (1 - p)) ** (model.alpha / 2)
    dosage = genotypes[causal].sum(axis=2, dtype=np.int16).astype(np.float64)  # (n_causal, n_samples)
    polygenic = effect @ dosage
    within = polygenic - np.array([polygenic[group_index == k].mean() for k in range(len(names))])[group_index]
    scale = math.sqrt(model.h2 / within.var())
    effect = effect * scale
    # Centre within each group: drift alone would shift a group's mean polygenic liability by a random
    # ~0.4 SD; centring leaves the stated 'group_shift' as the only difference in baseline risk.
    for k in range(len(names)):
        members = group_index == k
        polygenic[members] -= polygenic[members].mean()
    polygenic = polygenic * scale

    # Rare variants are rare in every group (as BRCA1/2 pathogenic variants are): choosing them by pooled
    # frequency alone would let a variant that is rare overall be common in a small group.
    rare_candidates = np.flatnonzero(on_causal & (freq > _RARE_FREQ[0]) & (freq < _RARE_FREQ[1]))
    group_freq = np.column_stack([
        genotypes[rare_candidates][:, group_index == k].sum(axis=(1, 2), dtype=np.int64)
        / (2.0 * (group_index == k).sum()) for k in range(len(names))])
    rare_candidates = (rare_candidates[group_freq.max(axis=1) < _RARE_FREQ[1]] if len(rare_candidates)
                       else rare_candidates)
    rare_candidates = np.setdiff1d(rare_candidates, causal)
    n_rare = min(model.n_rare, len(rare_candidates))
    rare = np.sort(rng.choice(rare_candidates, size=n_rare, replace=False)) if n_rare else np.array([], int)
    rare_dosage = genotypes[rare].sum(axis=2).sum(axis=0) if n_rare else np.zeros(n_samples)
    rare_liability = model.rare_effect * rare_dosage.astype(np.float64)
    genetic = polygenic + rare_liability

    age = np.round(rng.uniform(40, 80, size=n_samples), 1)
    male = rng.random(n_samples) < 0.5
    smoking = rng.random(n_samples) < model.smoking_rate
    group_base = np.asarray(model.group_shift, dtype=float)[group_index]
    covariate = (model.age_effect * (age - 60) / 10 + model.sex_effect * male
                 + model.smoking_effect * smoking)
    residual_var = 1.0 - model.h2 - rare_liability.var() - covariate.var()
    if residual_var < 0.05:
        raise MedaiInputError(
            f"model effects leave residual liability variance {residual_var:.3f} < 0.05; lower 'h2', "
            "'rare_effect' or the covariate effects."
        )
    covariate = covariate + group_base
    noise = rng.normal(0.0, math.sqrt(residual_var), size=n_samples)
    liability = genetic + covariate + noise
    threshold = float(np.quantile(liability, 1 - model.prevalence))
    case = liability > threshold
    risk = special.ndtr((genetic + covariate - threshold) / math.sqrt(residual_var))

    # Family history: a parent shares half the genetic liability; either parent affected.
    fam = np.zeros(n_samples, dtype=bool)
    for _ in range(2):
        parent_g = 0.5 * genetic + rng.normal(0, math.sqrt(0.75 * model.h2), size=n_samples)
        parent_l = parent_g + group_base + rng.normal(0, math.sqrt(1 - model.h2), size=n_samples)
        fam |= parent_l > threshold

    # Age at diagnosis, between 30 and the current age: P(diagnosed by a | case) = ((a - 30) / (age - 30))^k.
    # k = 8 for a case just above the threshold: incidence rises steeply with age, as real cancer incidence
    # does (roughly a power of age; median age at diagnosis about 66 for all cancers, SEER). k falls towards
    # 1 (diagnoses spread evenly from 30) as the liability excess grows, so cases far above the threshold
    # (carriers of a rare high-penetrance variant above all) are diagnosed earlier, as in hereditary cancer.
    # Case status does not depend on it.
    # A carrier's rare-variant liability counts in full towards early onset, whatever the rest of their
    # liability: hereditary cancers start early even in carriers only just above the threshold (BRCA1
    # carriers' breast cancer incidence is about flat from the 30s on, Kuchenbaecker et al. 2017).
    excess = np.clip(liability - threshold, 0, None) + rare_liability
    onset_power = 1 + 7 * np.exp(-excess)
    frac = rng.random(n_samples) ** (1 / onset_power)
    age_dx = np.where(case, np.round(30 + (age - 30) * frac, 1), np.nan)

    sample_ids = [f"SYN{i + 1:05d}" for i in range(n_samples)]
    samples = pd.DataFrame({
        "sample_id": sample_ids,
        "ancestry_group": np.asarray(names)[group_index],
        "sex": np.where(male, "male", "female"),
        "age": age,
        "smoking": smoking.astype(np.int8),
        "family_history": fam.astype(np.int8),
        "case": case.astype(np.int8),
        "age_at_diagnosis": age_dx,
        "event_age": np.where(case, age_dx, age),
    })
    truth = CohortTruth(
        causal_index=causal, causal_effect=effect, rare_index=rare, rare_effect=model.rare_effect,
        polygenic_liability=polygenic, genetic_liability=genetic, covariate_liability=covariate,
        liability=liability, threshold=threshold, risk=risk, model=model,
        causal_chromosomes=causal_chroms,
    )
    return samples, truth


def distance_to_causal(variants: pd.DataFrame, causal_index: np.ndarray) -> np.ndarray:
    """Distance in bp from each variant to the nearest causal variant on its chromosome.

    Parameters
    ----------
    variants : DataFrame
        With ``chrom`` and ``pos`` columns, n_variants rows.
    causal_index : array of int
        Row indices of the causal variants.

    Returns
    -------
    ndarray, float, shape (n_variants,)
        ``inf`` on chromosomes without a causal variant.

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer import distance_to_causal
    >>> v = pd.DataFrame({"chrom": ["1", "1", "2"], "pos": [100, 600, 50]})
    >>> distance_to_causal(v, [0]).tolist()
    [0.0, 500.0, inf]
    """
    if not {"chrom", "pos"} <= set(variants.columns):
        raise MedaiInputError("'variants' needs 'chrom' and 'pos' columns.")
    chrom = variants["chrom"].astype(str).to_numpy()
    pos = variants["pos"].to_numpy(dtype=np.float64)
    causal_index = np.asarray(causal_index, dtype=int)
    out = np.full(len(variants), np.inf)
    for c in np.unique(chrom[causal_index]) if len(causal_index) else []:
        rows = np.flatnonzero(chrom == c)
        cpos = np.sort(pos[causal_index[chrom[causal_index] == c]])
        idx = np.searchsorted(cpos, pos[rows])
        left = np.abs(pos[rows] - cpos[np.clip(idx - 1, 0, len(cpos) - 1)])
        right = np.abs(cpos[np.clip(idx, 0, len(cpos) - 1)] - pos[rows])
        out[rows] = np.minimum(left, right)
    return out


def make_cancer_cohort_files(n_individuals: int = 2000, *, root=None, random_state: int = 0,
                             **kwargs) -> Path:
    """Simulate a cohort (see :func:`make_cancer_cohort`) and cache it on disk as VCF + phenotype CSV.

    The folder is keyed by the parameters and the generator version, written atomically, and reused.

    Parameters
    ----------
    n_individuals : int, default 2000
    root : path, optional
        Cache root (default ``$MEDAI_DATA``).
    random_state : int, default 0
    **kwargs
        Other :func:`make_cancer_cohort` options (sizes and rates; ``model`` as a LiabilityModel).

    Returns
    -------
    pathlib.Path
        Folder with ``genotypes.vcf.gz``, ``phenotypes.csv`` (sample_id, covariates, outcomes),
        ``truth.npz`` (causal indices and effects, liabilities), and unless ``published_gwas_n=None``
        ``published_gwas_summary_statistics.tsv.gz`` (a large external GWAS of the first group, GWAS
        Catalog columns) with its description ``published_gwas_summary_statistics.yaml``, and
        ``known_pathogenic_variants.tsv`` (the rare high-penetrance variants a gene panel tests).

    Examples
    --------
    >>> from medai_lib.cancer import make_cancer_cohort_files, read_cohort
    >>> # folder = make_cancer_cohort_files(500, n_chromosomes=2, random_state=0)
    >>> # data = read_cohort(folder / "genotypes.vcf.gz", folder / "phenotypes.csv")
    """
    from medai_lib.cancer.vcf import write_cancer_cohort
    from medai_lib.data.cache import get_or_create

    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise TypeError("'random_state' must be an int for cached cohorts (a Generator cannot be a cache key).")
    params = {"n_individuals": n_individuals, "random_state": int(random_state)}
    for key, value in sorted(kwargs.items()):
        params[key] = asdict(value) if isinstance(value, LiabilityModel) else value

    def create(tmp):
        write_cancer_cohort(make_cancer_cohort(n_individuals, random_state=random_state, **kwargs), tmp)

    return get_or_create("cancer_cohort", params, GENERATOR_VERSION, create, root=root)
