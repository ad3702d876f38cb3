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
