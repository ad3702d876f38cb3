"""Polygenic risk scores: LD clumping and p-value thresholding (threshold chosen on a validation split),
LD-adjusted lasso and ridge scores from summary statistics, penalised regression (scikit-learn elastic net), scoring,
and the expected accuracy (Daetwyler).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from medai_lib.cancer.gwas import genotype_dosage
from medai_lib.cancer.qc import _check_genotypes
from medai_lib.errors import MedaiInputError

DEFAULT_THRESHOLDS = (5e-8, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class PolygenicScore:
    """A fitted polygenic score: weights per ALT allele at selected variants.

    Attributes
    ----------
    variant_index : ndarray, int, shape (n_selected,)
        Rows of the genotype array used.
    weights : ndarray, float, shape (n_selected,)
        Score per copy of the ALT allele.
    method : str
        ``"clumping+thresholding"``, ``"LD-adjusted lasso"``, ``"LD-adjusted ridge"`` or ``"elastic net"``.
    parameter : float
        The tuning value chosen on the validation split (p-value threshold, ridge shrinkage or penalty alpha).
    validation : DataFrame
        Every candidate tuning value, the number of variants, and the validation R-squared.
    """

    variant_index: np.ndarray
    weights: np.ndarray
    method: str
    parameter: float
    validation: pd.DataFrame


def clump(gwas: pd.DataFrame, genotypes, variants: pd.DataFrame, *, p_threshold: float = 1.0,
          r2_threshold: float = 0.1, window_bp: int = 250_000, max_ld_samples: int = 1000,
          random_state: "int | None" = 0) -> np.ndarray:
    """LD clumping: keep the most significant variant of each correlated group.

    Going from the smallest p-value up, each kept (index) variant removes the variants within
    ``window_bp`` whose r-squared with it exceeds ``r2_threshold`` (as PLINK ``--clump``).

    Parameters
    ----------
    gwas : DataFrame, n_variants rows
        With a ``p`` column (from :func:`run_gwas`).
    genotypes : array, int8, shape (n_variants, n_samples, 2)
        LD is estimated on these samples (at most ``max_ld_samples`` of them, drawn at random).
    variants : DataFrame, n_variants rows
        ``chrom`` and ``pos``.
    p_threshold : float, default 1.0
        Only variants with p at most this are considered.
    r2_threshold : float, default 0.1
    window_bp : int, default 250000
    max_ld_samples : int, default 1000
    random_state : int or None, default 0

    Returns
    -------
    ndarray, int
        Row indices of the index variants, in genome order.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.cancer import clump
    >>> g = np.tile((np.random.default_rng(0).random((1, 80, 2)) < 0.4).astype(np.int8), (2, 1, 1))
    >>> v = pd.DataFrame({"chrom": ["1", "1"], "pos": [100, 200]})
    >>> clump(pd.DataFrame({"p": [0.01, 0.001]}), g, v).tolist()  # the copy with the smaller p stays
    [1]
    """
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    if "p" not in gwas.columns or len(gwas) != n_variants:
        raise MedaiInputError(f"'gwas' must have a 'p' column and {n_variants} rows (one per variant).")
    if len(variants) != n_variants or not {"chrom", "pos"} <= set(variants.columns):
        raise MedaiInputError(f"'variants' must have 'chrom' and 'pos' columns and {n_variants} rows.")
    if not 0 < r2_threshold <= 1:
        raise MedaiInputError(f"'r2_threshold' must be in (0, 1]; got {r2_threshold!r}.")
    rng = np.random.default_rng(random_state)
    ld_samples = np.sort(rng.choice(n_samples, size=min(n_samples, max_ld_samples), replace=False))
    p = gwas["p"].to_numpy(dtype=float)
    chrom = variants["chrom"].astype(str).to_numpy()
    pos = variants["pos"].to_numpy(dtype=np.int64)
    kept = []
    for c in pd.unique(chrom):
        rows = np.flatnonzero((chrom == c) & np.isfinite(p) & (p <= p_threshold))
        if len(rows) == 0:
            continue
        rows = rows[np.argsort(pos[rows], kind="stable")]
        z = genotype_dosage(np.asarray(genotypes[rows])[:, ld_samples]).astype(np.float32)
        z -= z.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(z, axis=1, keepdims=True)
        z = np.divide(z, norm, out=np.zeros_like(z), where=norm > 0)
        cpos = pos[rows]
        removed = np.zeros(len(rows), dtype=bool)
        for i in np.argsort(p[rows], kind="stable"):
            if removed[i]:
                continue
            kept.append(rows[i])
            lo = np.searchsorted(cpos, cpos[i] - window_bp, side="left")
            hi = np.searchsorted(cpos, cpos[i] + window_bp, side="right")
            r = z[lo:hi] @ z[i]
            removed[lo:hi] |= r * r > r2_threshold
            removed[i] = True
    return np.sort(np.asarray(kept, dtype=int))


def polygenic_score(genotypes, score: PolygenicScore) -> np.ndarray:
    """Score samples: the sum over selected variants of weight times ALT dosage.

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
        Same variant rows as the data the score was fitted on; missing calls get the variant's mean.
    score : PolygenicScore

    Returns
    -------
    ndarray, float, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.cancer import polygenic_score, PolygenicScore
    >>> s = PolygenicScore(np.array([0]), np.array([0.5]), "manual", 1.0, pd.DataFrame())
    >>> polygenic_score(np.array([[[0, 1], [1, 1]]], dtype=np.int8), s).tolist()
    [0.5, 1.0]
    """
    _check_genotypes(genotypes)
    if not isinstance(score, PolygenicScore):
        raise TypeError(f"'score' must be a PolygenicScore; got {type(score).__name__}.")
    if len(score.variant_index) == 0:
        return np.zeros(genotypes.shape[1])
    if score.variant_index.max() >= genotypes.shape[0]:
        raise MedaiInputError(
            f"the score uses variant row {score.variant_index.max()} but 'genotypes' has {genotypes.shape[0]} "
            "rows; score the same (QC-filtered) variant set the score was fitted on."
        )
    dose = genotype_dosage(np.asarray(genotypes)[score.variant_index]).astype(np.float64)
    return score.weights @ dose


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    if np.std(x) == 0 or np.std(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def fit_clumping_thresholding(gwas: pd.DataFrame, clumped_index, genotypes_val, y_val, *,
                              thresholds=DEFAULT_THRESHOLDS) -> PolygenicScore:
    """Clumping + thresholding PRS: pick the p-value threshold that maximises R-squared on validation data.

    Parameters
    ----------
    gwas : DataFrame
        Training-sample GWAS (``beta``, ``p``), one row per variant.
    clumped_index : array of int
        Index variants from :func:`clump`.
    genotypes_val : array, int8, shape (n_variants, n_validation, 2)
        Validation samples (never the GWAS samples).
    y_val : array_like, shape (n_validation,)
        Validation phenotype (0/1 or quantitative), ideally adjusted for covariates.
    thresholds : sequence of float
        Candidate p-value thresholds.

    Returns
    -------
    PolygenicScore
        ``parameter`` is the chosen threshold; ``validation`` lists each threshold's R-squared.

    Examples
    --------
    >>> from medai_lib.cancer import fit_clumping_thresholding
    >>> # score = fit_clumping_thresholding(gwas_train, clump(gwas_train, g_train, variants), g_val, y_val)
    """
    n_variants = _check_genotypes(genotypes_val)[0]
    if not {"beta", "p"} <= set(gwas.columns) or len(gwas) != n_variants:
        raise MedaiInputError(f"'gwas' needs 'beta' and 'p' columns and {n_variants} rows.")
    y_val = np.asarray(y_val, dtype=float)
    if y_val.shape != (genotypes_val.shape[1],):
        raise MedaiInputError(
            f"'y_val' must have one value per validation sample ({genotypes_val.shape[1]}); got {y_val.shape}."
        )
    thresholds = np.sort(np.asarray(thresholds, dtype=float))
    if thresholds.size == 0 or np.any((thresholds <= 0) | (thresholds > 1)):
        raise MedaiInputError("'thresholds' must be p-values in (0, 1].")
    index = np.asarray(clumped_index, dtype=int)
    beta = gwas["beta"].to_numpy(dtype=float)[index]
    p = gwas["p"].to_numpy(dtype=float)[index]
    ok = np.isfinite(beta) & np.isfinite(p)
    index, beta, p = index[ok], beta[ok], p[ok]
    dose = genotype_dosage(np.asarray(genotypes_val)[index]).astype(np.float64)
    rows = []
    for t in thresholds:
        m = p <= t
        rows.append({"threshold": t, "n_variants": int(m.sum()),
                     "r2": _r2(beta[m] @ dose[m], y_val) if m.any() else 0.0})
    table = pd.DataFrame(rows)
    best = float(table.loc[table["r2"].idxmax(), "threshold"])
    m = p <= best
    return PolygenicScore(variant_index=index[m], weights=beta[m], method="clumping+thresholding",
                          parameter=best, validation=table)


DEFAULT_SHRINKAGE = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


def _standardised_effects(gwas: pd.DataFrame, *, with_se: bool = False):
    """Per-variant effects (and standard errors) per SD of genotype dosage, the scale the LD scores work
    on, with the indices of the usable variants: (sd, beta, se or None, usable)."""
    f = gwas["alt_freq"].to_numpy(dtype=float)
    sd = np.sqrt(2 * f * (1 - f))
    b = gwas["beta"].to_numpy(dtype=float) * sd
    se = gwas["se"].to_numpy(dtype=float) * sd if with_se else None
    usable = np.isfinite(b) & np.isfinite(gwas["p"].to_numpy(dtype=float)) & (sd > 0)
    if with_se:
        usable &= np.isfinite(se)
    ok = np.flatnonzero(usable)
    if len(ok) == 0:
        raise MedaiInputError("'gwas' has no variant with a finite effect and p-value.")
    return sd, b, se, ok


def _check_ld_score_inputs(gwas, genotypes_ref, variants, genotypes_val, columns) -> int:
    """Shared checks of the LD-aware scores: same variant rows everywhere, the summary columns present."""
    n_variants = _check_genotypes(genotypes_ref, "genotypes_ref")[0]
    if _check_genotypes(genotypes_val, "genotypes_val")[0] != n_variants:
        raise MedaiInputError("'genotypes_ref' and 'genotypes_val' must hold the same variant rows.")
    if not set(columns) <= set(gwas.columns) or len(gwas) != n_variants:
        named = ", ".join(f"'{c}'" for c in columns)
        raise MedaiInputError(f"'gwas' needs {named} columns and {n_variants} rows.")
    if len(variants) != n_variants or "chrom" not in variants.columns:
        raise MedaiInputError(f"'variants' needs a 'chrom' column and {n_variants} rows.")
    return n_variants


def fit_ld_ridge_prs(gwas: pd.DataFrame, genotypes_ref, variants: pd.DataFrame, genotypes_val, y_val, *,
                     shrinkage=DEFAULT_SHRINKAGE, block_size: int = 400) -> PolygenicScore:
    """PRS from summary statistics with the effects jointly adjusted for LD (ridge, as LDpred-inf / SBLUP).

    Marginal GWAS effects overlap: a variant in LD with several causal ones carries all their signals.
    Clumping keeps one variant per region and drops the rest; this method keeps every variant and solves
    ``w = (R + shrinkage * I)^-1 b`` in blocks of ``block_size`` neighbouring variants, with ``b`` the
    standardised marginal effects and ``R`` the LD in a reference sample of the same genetic ancestry group.
    The shrinkage is chosen on the validation split (R-squared), as the threshold of C+T is.

    Parameters
    ----------
    gwas : DataFrame, n_variants rows
        ``beta``, ``p``, ``alt_freq`` (e.g. published summary statistics lined up with
        :func:`~medai_lib.cancer.sumstats.align_summary_statistics`); variants with NaN ``p`` are skipped.
    genotypes_ref : array, int8, shape (n_variants, n_reference, 2)
        LD reference sample (e.g. the training split).
    variants : DataFrame, n_variants rows
        ``chrom`` (blocks never cross chromosomes).
    genotypes_val : array, int8, shape (n_variants, n_validation, 2)
    y_val : array_like, shape (n_validation,)
    shrinkage : sequence of float
        Candidate ridge values (larger = closer to the marginal effects).
    block_size : int, default 400

    Returns
    -------
    PolygenicScore
        ``method`` "LD-adjusted ridge", ``parameter`` the chosen shrinkage.

    Examples
    --------
    >>> from medai_lib.cancer.prs import fit_ld_ridge_prs
    >>> # score = fit_ld_ridge_prs(published, g[:, train], variants, g[:, val], y[val])
    """
    n_variants = _check_ld_score_inputs(gwas, genotypes_ref, variants, genotypes_val, ("beta", "p", "alt_freq"))
    y_val = np.asarray(y_val, dtype=float)
    if y_val.shape != (genotypes_val.shape[1],):
        raise MedaiInputError("'y_val' must have one value per validation sample.")
    shrinkage = np.sort(np.asarray(shrinkage, dtype=float))
    if shrinkage.size == 0 or np.any(shrinkage <= 0):
        raise MedaiInputError("'shrinkage' must be positive numbers.")
    if block_size < 10:
        raise MedaiInputError(f"'block_size' must be >= 10; got {block_size}.")
    sd, b, _, ok = _standardised_effects(gwas)
    chrom = variants["chrom"].astype(str).to_numpy()
    weights = np.zeros((len(shrinkage), n_variants))
    ref = np.asarray(genotypes_ref)
    for c in pd.unique(chrom[ok]):
        rows_c = ok[chrom[ok] == c]
        n_blocks = max(1, int(round(len(rows_c) / block_size)))
        for rows in np.array_split(rows_c, n_blocks):
            x = genotype_dosage(ref[rows]).astype(np.float64)
            x -= x.mean(axis=1, keepdims=True)
            norm = np.linalg.norm(x, axis=1, keepdims=True)
            x = np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
            values, vectors = np.linalg.eigh(x @ x.T)
            ub = vectors.T @ b[rows]
            values = np.clip(values, 0, None)
            for k, lam in enumerate(shrinkage):
                weights[k, rows] = vectors @ (ub / (values + lam)) / sd[rows]
    dose = genotype_dosage(np.asarray(genotypes_val)[ok]).astype(np.float64)
    preds = weights[:, ok] @ dose
    table = pd.DataFrame({"shrinkage": shrinkage, "n_variants": len(ok),
                          "r2": [_r2(preds[k], y_val) for k in range(len(shrinkage))]})
    best = int(table["r2"].idxmax())
    return PolygenicScore(variant_index=ok, weights=weights[best, ok], method="LD-adjusted ridge",
                          parameter=float(shrinkage[best]), validation=table)


def _lasso_block(r: np.ndarray, b: np.ndarray, penalty: float, max_sweeps: int = 30, tol: float = 1e-7):
    """Coordinate descent for min_w 0.5 w'Rw - b'w + penalty |w|_1 (R with unit diagonal)."""
    w = np.zeros(len(b))
    resid = b.copy()  # b - R w
    for _ in range(max_sweeps):
        largest = 0.0
        for j in range(len(b)):
            z = resid[j] + w[j]
            new = math.copysign(max(abs(z) - penalty, 0.0), z)
            change = new - w[j]
            if change != 0.0:
                resid -= r[:, j] * change
                w[j] = new
                largest = max(largest, abs(change))
        if largest < tol:
            break
    return w


def fit_ld_lasso_prs(gwas: pd.DataFrame, genotypes_ref, variants: pd.DataFrame, genotypes_val, y_val, *,
                     penalty=(1.0, 2.0, 3.0, 5.0, 8.0), ld_shrinkage=(0.1, 0.3), block_size: int = 400
                     ) -> PolygenicScore:
    """PRS from summary statistics by an LD-aware lasso (as lassosum): few variants, effects adjusted for LD.

    Minimises ``0.5 w' R_s w - b' w + penalty * median_se * |w|_1`` in blocks of ``block_size`` neighbouring
    variants, with ``b`` the standardised marginal effects, ``R_s = (1 - s) R + s I`` the LD of a reference
    sample shrunk towards the identity (the reference is small), and ``median_se`` the median standard
    error of ``b``: the penalty is in units of the GWAS noise. Where the truth is a few hundred causal
    variants among many correlated ones, the lasso keeps the variants that explain their neighbours'
    signals, which clumping (one variant per region) and ridge (every variant, shrunk) cannot. The penalty
    and ``s`` are chosen on the validation split (R-squared).

    Parameters
    ----------
    gwas : DataFrame, n_variants rows
        ``beta``, ``se``, ``p``, ``alt_freq``; variants with NaN ``p`` are skipped.
    genotypes_ref : array, int8, shape (n_variants, n_reference, 2)
        LD reference sample of the same genetic ancestry group.
    variants : DataFrame, n_variants rows
        ``chrom``.
    genotypes_val : array, int8, shape (n_variants, n_validation, 2)
    y_val : array_like, shape (n_validation,)
    penalty : sequence of float
        Candidate L1 penalties, in multiples of the median standard error.
    ld_shrinkage : sequence of float in [0, 1)
    block_size : int, default 400

    Returns
    -------
    PolygenicScore
        ``method`` "LD-adjusted lasso", ``parameter`` the chosen penalty; ``validation`` lists every
        (penalty, ld_shrinkage) pair.

    Examples
    --------
    >>> from medai_lib.cancer.prs import fit_ld_lasso_prs
    >>> # score = fit_ld_lasso_prs(published, g[:, train], variants, g[:, val], y[val])
    """
    n_variants = _check_ld_score_inputs(gwas, genotypes_ref, variants, genotypes_val,
                                        ("beta", "se", "p", "alt_freq"))
    y_val = np.asarray(y_val, dtype=float)
    if y_val.shape != (genotypes_val.shape[1],):
        raise MedaiInputError("'y_val' must have one value per validation sample.")
    penalty = np.sort(np.asarray(penalty, dtype=float))
    ld_shrinkage = np.asarray(ld_shrinkage, dtype=float)
    if penalty.size == 0 or np.any(penalty <= 0):
        raise MedaiInputError("'penalty' must be positive numbers (multiples of the median standard error).")
    if ld_shrinkage.size == 0 or np.any((ld_shrinkage < 0) | (ld_shrinkage >= 1)):
        raise MedaiInputError("'ld_shrinkage' must be numbers in [0, 1).")
    if block_size < 10:
        raise MedaiInputError(f"'block_size' must be >= 10; got {block_size}.")
    sd, b, se, ok = _standardised_effects(gwas, with_se=True)
    unit = float(np.median(se[ok]))
    combos = [(lam, sh) for sh in ld_shrinkage for lam in penalty]
    weights = np.zeros((len(combos), n_variants))
    chrom = variants["chrom"].astype(str).to_numpy()
    ref = np.asarray(genotypes_ref)
    for c in pd.unique(chrom[ok]):
        rows_c = ok[chrom[ok] == c]
        for rows in np.array_split(rows_c, max(1, int(round(len(rows_c) / block_size)))):
            x = genotype_dosage(ref[rows]).astype(np.float64)
            x -= x.mean(axis=1, keepdims=True)
            norm = np.linalg.norm(x, axis=1, keepdims=True)
            x = np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
            r0 = x @ x.T
            np.fill_diagonal(r0, 1.0)
            for k, (lam, sh) in enumerate(combos):
                r = (1 - sh) * r0 + sh * np.eye(len(rows))
                weights[k, rows] = _lasso_block(r, b[rows], lam * unit) / sd[rows]
    dose = genotype_dosage(np.asarray(genotypes_val)[ok]).astype(np.float64)
    preds = weights[:, ok] @ dose
    table = pd.DataFrame({"penalty": [c[0] for c in combos], "ld_shrinkage": [c[1] for c in combos],
                          "n_variants": (weights[:, ok] != 0).sum(axis=1),
                          "r2": [_r2(preds[k], y_val) for k in range(len(combos))]})
    best = int(table["r2"].idxmax())
    keep = ok[weights[best, ok] != 0]
    return PolygenicScore(variant_index=keep, weights=weights[best, keep], method="LD-adjusted lasso",
                          parameter=float(combos[best][0]), validation=table)


def fit_penalised_prs(genotypes_train, y_train, genotypes_val, y_val, *, variant_index=None,
                      l1_ratio: float = 0.5, n_alphas: int = 20, alpha_min_ratio: float = 0.01) -> PolygenicScore:
    """Penalised-regression PRS (scikit-learn elastic net path), penalty chosen on the validation split.

    Parameters
    ----------
    genotypes_train : array, int8, shape (n_variants, n_train, 2)
    y_train : array_like, shape (n_train,)
    genotypes_val : array, int8, shape (n_variants, n_validation, 2)
    y_val : array_like, shape (n_validation,)
    variant_index : array of int, optional
        Candidate variants (e.g. clumped variants with a GWAS p < 0.05, to keep the fit small); default all.
    l1_ratio : float, default 0.5
        Elastic-net mixing (1 = lasso).
    n_alphas : int, default 20
    alpha_min_ratio : float, default 0.01
        Smallest penalty as a fraction of the largest.

    Returns
    -------
    PolygenicScore
        ``parameter`` is the chosen alpha; weights are per ALT allele.

    Examples
    --------
    >>> from medai_lib.cancer import fit_penalised_prs
    >>> # score = fit_penalised_prs(g_train, y_train, g_val, y_val, variant_index=candidates)
    """
    from sklearn.linear_model import enet_path

    n_variants, n_train, _ = _check_genotypes(genotypes_train, "genotypes_train")
    if _check_genotypes(genotypes_val, "genotypes_val")[0] != n_variants:
        raise MedaiInputError("'genotypes_train' and 'genotypes_val' must hold the same variant rows.")
    y_train = np.asarray(y_train, dtype=float)
    y_val = np.asarray(y_val, dtype=float)
    if y_train.shape != (n_train,) or y_val.shape != (genotypes_val.shape[1],):
        raise MedaiInputError("'y_train' and 'y_val' must have one value per sample of their genotypes.")
    if not 0 < l1_ratio <= 1:
        raise MedaiInputError(f"'l1_ratio' must be in (0, 1]; got {l1_ratio!r}.")
    index = np.arange(n_variants) if variant_index is None else np.asarray(variant_index, dtype=int)
    x = genotype_dosage(np.asarray(genotypes_train)[index]).T.astype(np.float64)
    mean, sd = x.mean(axis=0), x.std(axis=0)
    usable = sd > 0
    index, x, mean, sd = index[usable], x[:, usable], mean[usable], sd[usable]
    x = (x - mean) / sd
    yc = y_train - y_train.mean()
    alpha_max = np.max(np.abs(x.T @ yc)) / (n_train * l1_ratio)
    alphas = np.geomspace(alpha_max, alpha_max * alpha_min_ratio, n_alphas)
    alphas, coefs, _ = enet_path(x, yc, l1_ratio=l1_ratio, alphas=alphas)
    x_val = genotype_dosage(np.asarray(genotypes_val)[index]).T.astype(np.float64)
    x_val = (x_val - mean) / sd
    preds = x_val @ coefs  # (n_val, n_alphas)
    table = pd.DataFrame({
        "alpha": alphas, "n_variants": (coefs != 0).sum(axis=0),
        "r2": [_r2(preds[:, k], y_val) for k in range(len(alphas))],
    })
    best = int(table["r2"].idxmax())
    w = coefs[:, best] / sd
    nz = w != 0
    return PolygenicScore(variant_index=index[nz], weights=w[nz], method="elastic net",
                          parameter=float(alphas[best]), validation=table)


def effective_number_of_segments(effective_size: float, genome_length_morgans: float) -> float:
    """Goddard's (2009) effective number of independent chromosome segments, Me = 2 Ne L / ln(4 Ne L).

    Examples
    --------
    >>> from medai_lib.cancer import effective_number_of_segments
    >>> round(effective_number_of_segments(10_000, 1.0))
    1887
    """
    if effective_size <= 0 or genome_length_morgans <= 0:
        raise MedaiInputError("'effective_size' and 'genome_length_morgans' must be positive.")
    x = effective_size * genome_length_morgans
    return float(2 * x / math.log(4 * x))


def daetwyler_expected_r2(h2: float, n_training: int, m_e: float) -> float:
    """Expected R-squared of a PRS with the phenotype: h2 / (1 + Me / (N h2)) (Daetwyler et al. 2008).

    Examples
    --------
    >>> from medai_lib.cancer import daetwyler_expected_r2
    >>> round(daetwyler_expected_r2(0.5, 2000, 1000), 3)
    0.25
    """
    if not 0 < h2 <= 1 or n_training <= 0 or m_e <= 0:
        raise MedaiInputError("need 0 < h2 <= 1, n_training > 0 and m_e > 0.")
    return float(h2 / (1 + m_e / (n_training * h2)))


def observed_to_liability_r2(r2_observed: float, prevalence: float, case_fraction: float) -> float:
    """Convert a case-control R-squared (0/1 scale) to the liability scale (Lee et al. 2012, eq. 15).

    Parameters
    ----------
    r2_observed : float
        R-squared between the score and the 0/1 outcome.
    prevalence : float
        Population prevalence K.
    case_fraction : float
        Fraction of cases in the sample P.

    Examples
    --------
    >>> from medai_lib.cancer import observed_to_liability_r2
    >>> round(observed_to_liability_r2(0.05, 0.1, 0.1), 3)
    0.146
    """
    if not (0 < prevalence < 1 and 0 < case_fraction < 1 and 0 <= r2_observed <= 1):
        raise MedaiInputError("need 0 < prevalence < 1, 0 < case_fraction < 1 and 0 <= r2_observed <= 1.")
    k, p = prevalence, case_fraction
    t = stats.norm.isf(k)
    z = stats.norm.pdf(t)
    i = z / k
    c = k * (1 - k) / z**2 * k * (1 - k) / (p * (1 - p))
    theta = i * (p - k) / (1 - k) * (i * (p - k) / (1 - k) - t)
    return float(r2_observed * c / (1 + r2_observed * theta * c))
