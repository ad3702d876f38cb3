"""Genetic ancestry from genotypes: LD pruning and principal component analysis with scikit-allel."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.cancer.gwas import genotype_dosage
from medai_lib.cancer.qc import _check_genotypes
from medai_lib.errors import MedaiInputError


def ld_prune(genotypes, variants: pd.DataFrame, *, size: int = 100, step: int = 20, threshold: float = 0.1,
             n_iter: int = 2, min_maf: float = 0.05) -> np.ndarray:
    """Select approximately independent common variants (sliding-window r-squared pruning).

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
    variants : DataFrame
        With a ``chrom`` column; windows never span two chromosomes.
    size, step : int
        Window size and step in variants (scikit-allel's ``locate_unlinked``).
    threshold : float, default 0.1
        Maximum r-squared kept within a window.
    n_iter : int, default 2
        Pruning passes.
    min_maf : float, default 0.05
        Variants with a lower minor allele frequency are not considered.

    Returns
    -------
    ndarray, bool, shape (n_variants,)
        True for the variants kept.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.cancer import ld_prune
    >>> g = np.tile((np.random.default_rng(0).random((1, 50, 2)) < 0.5).astype(np.int8), (3, 1, 1))
    >>> int(ld_prune(g, pd.DataFrame({"chrom": ["1"] * 3})).sum())  # three copies: one is kept
    1
    """
    import allel

    from medai_lib.cancer import scale

    if scale.is_large(genotypes):  # a store, or a lazy array too large for memory: the chunked path
        return scale.ld_prune(genotypes, variants, size=size, step=step, threshold=threshold, min_maf=min_maf)
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    if len(variants) != n_variants or "chrom" not in variants.columns:
        raise MedaiInputError(f"'variants' must have a 'chrom' column and {n_variants} rows.")
    if not 0 < threshold <= 1:
        raise MedaiInputError(f"'threshold' must be an r-squared in (0, 1]; got {threshold!r}.")
    keep = np.zeros(n_variants, dtype=bool)
    chrom = variants["chrom"].astype(str).to_numpy()
    for c in pd.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        block = np.asarray(genotypes[rows[0]:rows[-1] + 1])
        gn = block.sum(axis=2, dtype=np.int8)
        gn[block[:, :, 0] < 0] = -1
        del block
        called = (gn >= 0).sum(axis=1)
        freq = np.where(called > 0, np.where(gn >= 0, gn, 0).sum(axis=1) / (2.0 * np.maximum(called, 1)), 0)
        idx = np.flatnonzero(np.minimum(freq, 1 - freq) >= min_maf)
        for _ in range(n_iter):
            if len(idx) < 2:
                break
            unlinked = allel.locate_unlinked(gn[idx], size=size, step=step, threshold=threshold)
            idx = idx[unlinked]
        keep[rows[0] + idx] = True
    return keep


@dataclass(frozen=True)
class AncestryPCA:
    """Principal components of genotypes.

    Attributes
    ----------
    components : ndarray, float, shape (n_samples, n_components)
        Each sample's coordinates (use as GWAS covariates).
    explained_variance_ratio : ndarray, float, shape (n_components,)
    variant_mask : ndarray, bool, shape (n_variants,)
        Variants the PCA used.
    """

    components: np.ndarray
    explained_variance_ratio: np.ndarray
    variant_mask: np.ndarray

    def as_frame(self) -> pd.DataFrame:
        """The components as a DataFrame with columns PC1, PC2, ..."""
        return pd.DataFrame(self.components,
                            columns=[f"PC{i + 1}" for i in range(self.components.shape[1])])


def genetic_pca(genotypes, *, n_components: int = 10, variant_mask=None,
                random_state: "int | None" = 0) -> AncestryPCA:
    """Principal components of (LD-pruned) genotypes, Patterson-scaled (randomised PCA, scikit-allel).

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
    n_components : int, default 10
    variant_mask : array of bool, shape (n_variants,), optional
        Variants to use, e.g. from :func:`ld_prune`; default all.
    random_state : int or None, default 0

    Returns
    -------
    AncestryPCA

    Examples
    --------
    >>> from medai_lib.cancer import make_cancer_cohort, genetic_pca, LiabilityModel
    >>> c = make_cancer_cohort(100, n_chromosomes=1, chromosome_length=5e6,
    ...                        model=LiabilityModel(n_causal=20), random_state=0)
    >>> genetic_pca(c.genotypes, n_components=2).components.shape
    (100, 2)
    """
    import allel

    from medai_lib.cancer import scale

    if scale.is_large(genotypes):  # a store, or a lazy array too large for memory: the chunked path
        return scale.genetic_pca(genotypes, n_components=n_components, variant_mask=variant_mask,
                                 random_state=random_state)
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
            or not 1 <= n_components < min(n_samples, n_variants):
        raise MedaiInputError(
            f"'n_components' must be an int in [1, {min(n_samples, n_variants) - 1}] for "
            f"{n_samples} samples and {n_variants} variants; got {n_components!r}."
        )
    mask = np.ones(n_variants, dtype=bool) if variant_mask is None else np.asarray(variant_mask, dtype=bool)
    if mask.shape != (n_variants,):
        raise MedaiInputError(f"'variant_mask' must be a bool array of length {n_variants}; got {mask.shape}.")
    rows = np.flatnonzero(mask)
    dose = genotype_dosage(np.asarray(genotypes)[rows])
    freq = dose.mean(axis=1) / 2
    dose = dose[(freq > 0) & (freq < 1)]
    coords, model = allel.randomized_pca(dose, n_components=int(n_components), scaler="patterson",
                                         random_state=random_state)
    return AncestryPCA(components=np.asarray(coords), explained_variance_ratio=np.asarray(
        model.explained_variance_ratio_), variant_mask=mask)
