"""Genotype quality control with scikit-allel: call rate, allele frequency, Hardy-Weinberg exact test,
sample missingness and heterozygosity, and the filters built on them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln

from medai_lib.errors import MedaiInputError


def _check_genotypes(genotypes, name: str = "genotypes"):
    shape = getattr(genotypes, "shape", None)
    if shape is None or len(shape) != 3 or shape[2] != 2:
        raise MedaiInputError(
            f"'{name}' must be an array of shape (n_variants, n_samples, 2) (scikit-allel's layout, "
            f"-1 = missing); got shape {shape}. Read files with read_vcf or read_zarr."
        )
    return shape


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(start + size, n)


def _hwe_exact_one(n_hom_ref: int, n_het: int, n_hom_alt: int, logfact: np.ndarray) -> float:
    n = n_hom_ref + n_het + n_hom_alt
    if n == 0:
        return np.nan
    n_minor = 2 * min(n_hom_ref, n_hom_alt) + n_het
    if n_minor == 0:
        return 1.0
    n_major = 2 * n - n_minor
    hets = np.arange(n_minor % 2, n_minor + 1, 2)
    hom_minor = (n_minor - hets) // 2
    hom_major = n - hets - hom_minor
    ok = hom_major >= 0
    hets, hom_minor, hom_major = hets[ok], hom_minor[ok], hom_major[ok]
    # Constant terms (n!, n_minor!, n_major!, (2n)!) cancel in the ratio below.
    logp = hets * np.log(2.0) - logfact[hom_minor] - logfact[hets] - logfact[hom_major]
    observed = logp[hets == n_het][0]
    prob = np.exp(logp - logp.max())
    p = prob[logp <= observed + 1e-7].sum() / prob.sum()
    return float(min(1.0, p))


def hardy_weinberg_exact(n_hom_ref, n_het, n_hom_alt) -> np.ndarray:
    """Hardy-Weinberg exact test (Wigginton, Cutler & Abecasis 2005) for each variant.

    Parameters
    ----------
    n_hom_ref, n_het, n_hom_alt : array_like, int, shape (n_variants,)
        Genotype counts among called samples.

    Returns
    -------
    ndarray, float, shape (n_variants,)
        Two-sided p-values (NaN where no sample is called).

    Examples
    --------
    >>> from medai_lib.cancer import hardy_weinberg_exact
    >>> p = hardy_weinberg_exact([25, 50], [50, 0], [25, 50])
    >>> bool(p[0] > 0.5), bool(p[1] < 1e-20)
    (True, True)
    """
    counts = np.stack([np.asarray(n_hom_ref), np.asarray(n_het), np.asarray(n_hom_alt)], axis=1)
    if counts.ndim != 2 or np.any(counts < 0):
        raise MedaiInputError("Hardy-Weinberg counts must be non-negative integer arrays of equal length.")
    counts = counts.astype(np.int64)
    unique, inverse = np.unique(counts, axis=0, return_inverse=True)
    logfact = gammaln(np.arange(int(unique.sum(axis=1).max(initial=0)) + 2) + 1.0)
    p_unique = np.array([_hwe_exact_one(*row, logfact) for row in unique.tolist()])
    return p_unique[np.asarray(inverse).ravel()]


def variant_qc(genotypes, *, groups=None, chunk_size: int = 5000) -> pd.DataFrame:
    """Per-variant QC statistics.

    Parameters
    ----------
    genotypes : array (NumPy, zarr or dask), int8, shape (n_variants, n_samples, 2)
    groups : array_like of str, shape (n_samples,), optional
        Genetic ancestry group of each sample. When given, ``hwe_p`` is the smallest p-value of the
        within-group tests (structure makes a pooled test fail by itself: the Wahlund effect); without
        them ``hwe_p`` is the pooled test. ``hwe_p_pooled`` is always the test on everyone pooled.
    chunk_size : int, default 5000
        Variants processed at a time.

    Returns
    -------
    DataFrame, n_variants rows
        ``call_rate``, ``alt_freq``, ``maf``, ``het_observed``, ``het_expected``, ``hwe_p``,
        ``hwe_p_pooled``.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer import variant_qc
    >>> g = np.array([[[0, 0], [0, 1], [1, 1], [-1, -1]]], dtype=np.int8)
    >>> variant_qc(g)[["call_rate", "alt_freq"]].round(2).values.tolist()
    [[0.75, 0.5]]
    """
    import allel

    from medai_lib.cancer import scale

    if scale.is_large(genotypes):  # a store, or a lazy array too large for memory: the chunked path
        return scale.variant_qc(genotypes, groups=groups)
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    group_masks = {}
    if groups is not None:
        groups = np.asarray(groups).astype(str)
        if groups.shape != (n_samples,):
            raise MedaiInputError(f"'groups' must have one entry per sample ({n_samples}); got {groups.shape}.")
        group_masks = {k: groups == k for k in np.unique(groups)}
    parts = []
    for start, stop in _chunks(n_variants, chunk_size):
        g = allel.GenotypeArray(np.asarray(genotypes[start:stop]))
        called = g.count_called(axis=1)
        hom_ref, het, hom_alt = g.count_hom_ref(axis=1), g.count_het(axis=1), g.count_hom_alt(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            alt_freq = (het + 2 * hom_alt) / (2.0 * called)
        part = pd.DataFrame({
            "call_rate": called / n_samples,
            "alt_freq": alt_freq,
            "maf": np.minimum(alt_freq, 1 - alt_freq),
            "het_observed": np.divide(het, called, out=np.full(len(called), np.nan), where=called > 0),
            "het_expected": 2 * alt_freq * (1 - alt_freq),
        })
        pooled = hardy_weinberg_exact(hom_ref, het, hom_alt)
        if group_masks:
            within = []
            for mask in group_masks.values():
                sub = g.subset(sel1=mask)
                within.append(hardy_weinberg_exact(sub.count_hom_ref(axis=1), sub.count_het(axis=1),
                                                   sub.count_hom_alt(axis=1)))
            part["hwe_p"] = np.nanmin(np.vstack(within), axis=0)
        else:
            part["hwe_p"] = pooled
        part["hwe_p_pooled"] = pooled  # the same as hwe_p without groups (everyone is one group)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def sample_qc(genotypes, *, chunk_size: int = 5000) -> pd.DataFrame:
    """Per-sample QC statistics.

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)

    Returns
    -------
    DataFrame, n_samples rows
        ``missing_rate`` (fraction of variants not called) and ``heterozygosity`` (fraction of called
        variants heterozygous; unusually high values flag contamination, low values inbreeding).

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer import sample_qc
    >>> g = np.array([[[0, 1], [-1, -1]], [[0, 0], [1, 1]]], dtype=np.int8)
    >>> sample_qc(g)["missing_rate"].tolist()
    [0.0, 0.5]
    """
    from medai_lib.cancer import scale

    if scale.is_large(genotypes):  # a store, or a lazy array too large for memory: the chunked path
        return scale.sample_qc(genotypes)
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    missing = np.zeros(n_samples, dtype=np.int64)
    het = np.zeros(n_samples, dtype=np.int64)
    for start, stop in _chunks(n_variants, chunk_size):
        g = np.asarray(genotypes[start:stop])
        miss = g[:, :, 0] < 0
        missing += miss.sum(axis=0)
        het += ((g[:, :, 0] != g[:, :, 1]) & ~miss & (g[:, :, 1] >= 0)).sum(axis=0)
    called = n_variants - missing
    return pd.DataFrame({
        "missing_rate": missing / max(n_variants, 1),
        "heterozygosity": np.divide(het, called, out=np.full(n_samples, np.nan), where=called > 0),
    })


@dataclass(frozen=True)
class QCResult:
    """Which variants and samples pass QC, and why the others fail.

    Attributes
    ----------
    variant_mask : ndarray, bool, shape (n_variants,)
    sample_mask : ndarray, bool, shape (n_samples,)
    summary : DataFrame
        One row per filter: its threshold and how many variants or samples it removes; a last row counts
        the variants removed by any filter (a variant failing two filters is counted once there).
    """

    variant_mask: np.ndarray
    sample_mask: np.ndarray
    summary: pd.DataFrame


def qc_filter(variant_table: pd.DataFrame, sample_table: pd.DataFrame, *, min_call_rate: float = 0.95,
              min_maf: float = 0.01, min_hwe_p: float = 1e-6, max_sample_missing: float = 0.05) -> QCResult:
    """Apply the standard genotype QC thresholds.

    Parameters
    ----------
    variant_table : DataFrame
        From :func:`variant_qc`.
    sample_table : DataFrame
        From :func:`sample_qc`.
    min_call_rate, min_maf, min_hwe_p, max_sample_missing : float
        Thresholds (defaults are the usual GWAS ones).

    Returns
    -------
    QCResult

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer import qc_filter
    >>> v = pd.DataFrame({"call_rate": [0.99, 0.5], "maf": [0.2, 0.2], "hwe_p": [0.5, 0.5]})
    >>> s = pd.DataFrame({"missing_rate": [0.01, 0.2]})
    >>> r = qc_filter(v, s); r.variant_mask.tolist(), r.sample_mask.tolist()
    ([True, False], [True, False])
    """
    for name, value in (("min_call_rate", min_call_rate), ("min_maf", min_maf), ("min_hwe_p", min_hwe_p),
                        ("max_sample_missing", max_sample_missing)):
        if not 0 <= value <= 1:
            raise MedaiInputError(f"'{name}' must be in [0, 1]; got {value!r}.")
    needed = {"call_rate", "maf", "hwe_p"} - set(variant_table.columns)
    if needed:
        raise MedaiInputError(f"'variant_table' lacks {sorted(needed)}; compute it with variant_qc().")
    if "missing_rate" not in sample_table.columns:
        raise MedaiInputError("'sample_table' lacks 'missing_rate'; compute it with sample_qc().")
    call = variant_table["call_rate"].to_numpy() >= min_call_rate
    maf = variant_table["maf"].to_numpy() >= min_maf
    hwe = ~(variant_table["hwe_p"].to_numpy() < min_hwe_p)
    samples = sample_table["missing_rate"].to_numpy() <= max_sample_missing
    kept = call & maf & hwe
    # A variant can fail several filters: the last variant row counts each removed variant once.
    summary = pd.DataFrame({
        "filter": ["variant call rate", "minor allele frequency", "Hardy-Weinberg p", "sample missingness",
                   "any variant filter (each variant once)"],
        "threshold": [f">= {min_call_rate}", f">= {min_maf}", f">= {min_hwe_p:g}", f"<= {max_sample_missing}",
                      "all three above"],
        "removed": [int((~call).sum()), int((~maf).sum()), int((~hwe).sum()), int((~samples).sum()),
                    int((~kept).sum())],
        "of": [len(call)] * 3 + [len(samples), len(call)],
    })
    return QCResult(variant_mask=kept, sample_mask=samples, summary=summary)


def exclusions_by_group(sample_mask, groups=None) -> pd.DataFrame:
    """People excluded by sample QC in each genetic ancestry group (or in everyone when there is none).

    Exclusions that fall on one group more than another bias every later result against that group.

    Parameters
    ----------
    sample_mask : array_like of bool, shape (n_samples,)
        True = kept (``QCResult.sample_mask``).
    groups : array_like of str, shape (n_samples,), optional
        Genetic ancestry group of each person; None puts everyone in one row, "everyone".

    Returns
    -------
    DataFrame
        Index: group; columns ``people``, ``excluded``, ``share excluded``.

    Examples
    --------
    >>> from medai_lib.cancer.qc import exclusions_by_group
    >>> exclusions_by_group([True, False, True, True], ["A", "A", "B", "B"])["excluded"].tolist()
    [1, 0]
    """
    kept = np.asarray(sample_mask, dtype=bool)
    labels = np.full(kept.shape, "everyone", dtype=object) if groups is None else np.asarray(groups).astype(str)
    if labels.shape != kept.shape:
        raise MedaiInputError(f"'groups' must have one label per person ({kept.shape[0]}); got {labels.shape}.")
    frame = pd.DataFrame({"group": labels, "excluded": ~kept})
    table = frame.groupby("group")["excluded"].agg(people="size", excluded="sum").astype(int)
    table["share excluded"] = (table["excluded"] / table["people"]).round(3)
    return table.rename_axis("ancestry_group")


# --------------------------------------------------------------------------- sample checks: F, kinship, sex
#: KING kinship cut-offs between degrees of relationship (Manichaikul et al., Bioinformatics 2010;26:2867):
#: above 0.354 duplicate or monozygotic twin, 0.177 first degree, 0.0884 second, 0.0442 third.
KING_DEGREES = ((0.354, "duplicate or monozygotic twin"), (0.177, "first degree"), (0.0884, "second degree"),
                (0.0442, "third degree"))


def _dosage_chunk(g: np.ndarray) -> np.ndarray:
    """Alternative-allele count per call (0, 1, 2) as float, NaN where either allele is missing."""
    g = np.asarray(g)
    called = (g[:, :, 0] >= 0) & (g[:, :, 1] >= 0)
    return np.where(called, g.sum(axis=2, dtype=np.int16), -1).astype(np.float64).clip(min=-1)


def sample_inbreeding(genotypes, *, groups=None, variant_mask=None, min_maf: float = 0.01, n_sd: float = 3.0,
                      chunk_size: int = 5000) -> pd.DataFrame:
    """Per-person inbreeding coefficient F from homozygosity (method-of-moments, as PLINK's ``--het``), with
    outliers flagged within each genetic ancestry group.

    F = (observed homozygous calls - expected) / (called variants - expected), the expectation
    sum(1 - 2 p (1 - p)) over the person's called variants with p the allele frequency of their group.
    High F (excess homozygosity) suggests a consanguineous family or a sample problem; strongly negative F
    (excess heterozygosity) suggests a contaminated (mixed) DNA sample. Allele frequencies come from the
    person's own group: pooled frequencies would make every person of a minority group look inbred.

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
    groups : array_like of str, shape (n_samples,), optional
        Genetic ancestry group of each person (None: one group).
    variant_mask : array of bool, shape (n_variants,), optional
        Variants to use (e.g. those passing QC).
    min_maf : float, default 0.01
        Variants rarer than this in a group are left out (too little information).
    n_sd : float, default 3
        Outlier: F more than ``n_sd`` standard deviations from the group's mean.
    chunk_size : int, default 5000

    Returns
    -------
    DataFrame, n_samples rows
        ``observed_hom``, ``expected_hom``, ``n_called``, ``F``, ``outlier`` (bool).

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer.qc import sample_inbreeding
    >>> g = np.random.default_rng(0).integers(0, 2, size=(500, 40, 2)).astype(np.int8)
    >>> bool(abs(sample_inbreeding(g)["F"].mean()) < 0.05)
    True
    """
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    labels = np.zeros(n_samples, dtype=object) if groups is None else np.asarray(groups).astype(str)
    if labels.shape != (n_samples,):
        raise MedaiInputError(f"'groups' must have one entry per sample ({n_samples}); got {labels.shape}.")
    observed = np.zeros(n_samples)
    expected = np.zeros(n_samples)
    n_called = np.zeros(n_samples)
    members = {k: labels == k for k in pd.unique(labels)}
    rows = np.arange(n_variants) if variant_mask is None else np.flatnonzero(np.asarray(variant_mask, dtype=bool))
    for start, stop in _chunks(rows.size, chunk_size):
        d = _dosage_chunk(np.asarray(genotypes[rows[start:stop]]))
        called = d >= 0
        for mask in members.values():
            dd, cc = d[:, mask], called[:, mask]
            with np.errstate(invalid="ignore", divide="ignore"):
                p = np.where(cc, dd, 0).sum(axis=1) / (2.0 * cc.sum(axis=1))
            use = np.isfinite(p) & (np.minimum(p, 1 - p) >= min_maf)
            cc = cc & use[:, None]
            observed[mask] += ((dd != 1) & cc).sum(axis=0)
            expected[mask] += ((1 - 2 * p * (1 - p))[:, None] * cc).sum(axis=0, where=cc)
            n_called[mask] += cc.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = (observed - expected) / (n_called - expected)
    outlier = np.zeros(n_samples, dtype=bool)
    for mask in members.values():
        values = f[mask]
        sd = np.nanstd(values)
        if np.isfinite(sd) and sd > 0:
            outlier[mask] = np.abs(values - np.nanmean(values)) > n_sd * sd
    return pd.DataFrame({"observed_hom": observed, "expected_hom": expected, "n_called": n_called, "F": f,
                         "outlier": outlier})


def king_kinship(genotypes, *, variant_mask=None, chunk_size: int = 5000) -> np.ndarray:
    """KING-robust kinship coefficient of every pair of people (Manichaikul et al., Bioinformatics 2010).

    The between-family estimator, robust to population structure:
    phi_ij = (N_het,het - 2 N_opposite_hom) / (2 N_het_min) + 1/2 - (N_het_i + N_het_j) / (4 N_het_min),
    counted over the variants called in both people. About 0.5 for duplicate samples or monozygotic twins,
    0.25 for parent-offspring and full siblings, 0.125 second degree, 0 unrelated (it can be negative).

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
    variant_mask : array of bool, shape (n_variants,), optional
        Variants to use (e.g. those passing QC).
    chunk_size : int, default 5000

    Returns
    -------
    ndarray, float, shape (n_samples, n_samples)
        Symmetric; the diagonal is 0.5.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer.qc import king_kinship
    >>> g = np.random.default_rng(0).integers(0, 2, size=(2000, 3, 2)).astype(np.int8)
    >>> g = np.concatenate([g, g[:, :1]], axis=1)   # person 3 is a duplicate of person 0
    >>> round(float(king_kinship(g)[0, 3]), 2)
    0.5
    """
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    rows = np.arange(n_variants) if variant_mask is None else np.flatnonzero(np.asarray(variant_mask, dtype=bool))
    if rows.size == 0:
        raise MedaiInputError("'variant_mask' keeps no variant: kinship needs variants.")
    hethet = np.zeros((n_samples, n_samples))
    opposite = np.zeros((n_samples, n_samples))
    het_in_both = np.zeros((n_samples, n_samples))  # [i, j]: heterozygous calls of i where j is called
    for start, stop in _chunks(rows.size, chunk_size):
        d = _dosage_chunk(np.asarray(genotypes[rows[start:stop]]))
        # 0/1 indicators in float32: products of chunks up to 2**24 variants are exact counts
        het = (d == 1).astype(np.float32)
        hom0, hom2 = (d == 0).astype(np.float32), (d == 2).astype(np.float32)
        called = (d >= 0).astype(np.float32)
        hethet += het.T @ het
        opposite += hom0.T @ hom2
        het_in_both += het.T @ called
    opposite = opposite + opposite.T  # AA in i with aa in j, and aa in i with AA in j
    n_i, n_j = het_in_both, het_in_both.T
    n_min = np.minimum(n_i, n_j)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = (hethet - 2 * opposite) / (2 * n_min) + 0.5 - (n_i + n_j) / (4 * n_min)
    np.fill_diagonal(phi, 0.5)
    return phi


def related_pairs(genotypes, *, variant_mask=None, min_kinship: float = 0.0884, sample_ids=None,
                  missing_rate=None) -> pd.DataFrame:
    """Pairs of people related more closely than ``min_kinship`` (default: second degree or closer), with
    the degree the KING cut-offs give and which one of each pair to leave out of an association study.

    Related people break the independence a GWAS or a risk model assumes, and duplicates are often sample
    mix-ups. The usual rule keeps one of each related pair: the one with fewer missing calls.

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
    variant_mask : array of bool, optional
    min_kinship : float, default 0.0884
    sample_ids : sequence of str, optional
        Names for the output (default: column numbers).
    missing_rate : array_like, shape (n_samples,), optional
        From :func:`sample_qc`; decides which person of a pair to leave out (default: the second).

    Returns
    -------
    DataFrame
        ``sample_1``, ``sample_2``, ``kinship``, ``relationship``, ``leave_out``; one row per pair, closest
        first.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer.qc import related_pairs
    >>> g = np.random.default_rng(0).integers(0, 2, size=(2000, 3, 2)).astype(np.int8)
    >>> related_pairs(np.concatenate([g, g[:, :1]], axis=1))["relationship"].tolist()
    ['duplicate or monozygotic twin']
    """
    phi = king_kinship(genotypes, variant_mask=variant_mask)
    n = phi.shape[0]
    ids = [str(i) for i in range(n)] if sample_ids is None else [str(s) for s in sample_ids]
    if len(ids) != n:
        raise MedaiInputError(f"'sample_ids' has {len(ids)} names for {n} samples.")
    miss = np.zeros(n) if missing_rate is None else np.asarray(missing_rate, dtype=float)
    i, j = np.triu_indices(n, k=1)
    keep = phi[i, j] >= min_kinship
    i, j = i[keep], j[keep]
    order = np.argsort(-phi[i, j], kind="stable")
    i, j = i[order], j[order]
    rows = []
    for a, b in zip(i, j):
        k = float(phi[a, b])
        relationship = next((name for cut, name in KING_DEGREES if k > cut), "unrelated")
        rows.append({"sample_1": ids[a], "sample_2": ids[b], "kinship": k, "relationship": relationship,
                     "leave_out": ids[b] if miss[b] >= miss[a] else ids[a]})
    return pd.DataFrame(rows, columns=["sample_1", "sample_2", "kinship", "relationship", "leave_out"])


X_CHROMOSOMES = ("X", "chrX", "23")


def check_sex(genotypes, variants: pd.DataFrame, reported_sex, *, min_maf: float = 0.01,
              female_max_f: float = 0.2, male_min_f: float = 0.8) -> pd.DataFrame:
    """Genetic sex from chromosome X homozygosity against the recorded sex (as PLINK's ``--check-sex``).

    Men carry one X: outside the pseudo-autosomal regions every X call is homozygous, so their X inbreeding
    coefficient F is near 1; women's is near 0. F below ``female_max_f`` reads as female, above
    ``male_min_f`` as male, in between as unclear. A mismatch with the recorded sex is most often a sample
    swap or a data-entry error (sometimes a sex-chromosome variation): investigate before any result is
    returned to a person.

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
        Male X calls coded diploid homozygous (0/0, 1/1), as most exports write them.
    variants : DataFrame
        ``chrom`` of each variant row; X is ``X``, ``chrX`` or ``23``.
    reported_sex : array_like, shape (n_samples,)
        "male"/"female" (or 1 = male, 0 = female, as the phenotype table codes ``sex``).
    min_maf, female_max_f, male_min_f : float

    Returns
    -------
    DataFrame, n_samples rows
        ``x_variants``, ``F``, ``genetic_sex`` ("female", "male", "unclear", or "no X data"),
        ``reported_sex``, ``mismatch`` (bool).

    Examples
    --------
    >>> # check_sex(data.genotypes, data.variants, data.samples["sex"]).query("mismatch")
    """
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    if "chrom" not in variants.columns or len(variants) != n_variants:
        raise MedaiInputError(f"'variants' must have a 'chrom' column and {n_variants} rows.")
    sex = pd.Series(np.asarray(reported_sex)).astype(str).str.lower().replace({"1": "male", "0": "female",
                                                                                 "1.0": "male", "0.0": "female"})
    if len(sex) != n_samples:
        raise MedaiInputError(f"'reported_sex' has {len(sex)} values for {n_samples} samples.")
    on_x = np.flatnonzero(variants["chrom"].astype(str).isin(X_CHROMOSOMES).to_numpy())
    if on_x.size == 0:
        return pd.DataFrame({"x_variants": 0, "F": np.nan, "genetic_sex": "no X data", "reported_sex": sex,
                             "mismatch": False})
    d = _dosage_chunk(np.asarray(genotypes[on_x]))
    called = d >= 0
    # allele frequency from women's calls where sex is recorded (men's X is hemizygous), else everyone
    women = (sex == "female").to_numpy()
    ref = women if women.sum() >= 10 else np.ones(n_samples, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(called[:, ref], d[:, ref], 0).sum(axis=1) / (2.0 * called[:, ref].sum(axis=1))
    use = np.isfinite(p) & (np.minimum(p, 1 - p) >= min_maf)
    cc = called & use[:, None]
    observed = ((d != 1) & cc).sum(axis=0)
    expected = ((1 - 2 * p * (1 - p))[:, None] * cc).sum(axis=0, where=cc)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = (observed - expected) / (cc.sum(axis=0) - expected)
    genetic = np.where(f < female_max_f, "female", np.where(f > male_min_f, "male", "unclear"))
    genetic = np.where(np.isfinite(f), genetic, "no X data")
    mismatch = np.isin(genetic, ("female", "male")) & sex.isin(("female", "male")).to_numpy() & (genetic != sex)
    return pd.DataFrame({"x_variants": cc.sum(axis=0), "F": f, "genetic_sex": genetic, "reported_sex": sex,
                         "mismatch": mismatch | (genetic == "unclear")})
