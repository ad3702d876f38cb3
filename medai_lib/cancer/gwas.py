"""Vectorised genome-wide association: linear regression and the logistic score test for all SNPs at once,
with covariates (e.g. principal components), and genomic inflation.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from medai_lib.cancer.qc import _check_genotypes, _chunks
from medai_lib.errors import MedaiInputError

_CHI2_MEDIAN_1DF = float(stats.chi2.ppf(0.5, 1))  # 0.4549


def genotype_dosage(genotypes, *, impute: bool = True, dtype=np.float32) -> np.ndarray:
    """ALT-allele dosage (0, 1, 2) per call.

    Parameters
    ----------
    genotypes : array (NumPy, zarr or dask), int, shape (n_variants, n_samples, 2)
        -1 = missing.
    impute : bool, default True
        Replace missing calls by the variant's mean dosage; ``False`` leaves NaN.

    Returns
    -------
    ndarray, float32, shape (n_variants, n_samples)

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer import genotype_dosage
    >>> genotype_dosage(np.array([[[0, 1], [1, 1], [-1, -1]]], dtype=np.int8)).tolist()
    [[1.0, 2.0, 1.5]]
    """
    _check_genotypes(genotypes)
    g = np.asarray(genotypes)
    first = g[:, :, 0]
    missing = first < 0
    if g.dtype == np.int8 and not (g[:, :, 1][~missing] < 0).any():
        dose = (first + g[:, :, 1]).astype(dtype)  # -2 where missing, fixed below
    else:
        missing |= g[:, :, 1] < 0
        dose = g.sum(axis=2, dtype=np.int16).astype(dtype)
    if not missing.any():
        return dose
    dose[missing] = 0
    if impute:
        n_called = g.shape[1] - missing.sum(axis=1)
        mean = np.divide(dose.sum(axis=1, dtype=np.float64), n_called, out=np.zeros(len(dose)),
                         where=n_called > 0).astype(dtype)
        dose += missing * mean[:, None]
    else:
        dose[missing] = np.nan
    return dose


def _design(covariates, n: int) -> np.ndarray:
    if covariates is None:
        return np.ones((n, 1))
    c = covariates.to_numpy(dtype=float) if isinstance(covariates, pd.DataFrame) else np.asarray(covariates,
                                                                                                 dtype=float)
    if c.ndim == 1:
        c = c[:, None]
    if c.shape[0] != n:
        raise MedaiInputError(f"'covariates' must have one row per sample ({n}); got {c.shape[0]} rows.")
    if not np.all(np.isfinite(c)):
        raise MedaiInputError("'covariates' contain NaN or infinite values; impute or drop those samples first.")
    x = np.column_stack([np.ones(n), c])
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise MedaiInputError(
            "'covariates' are collinear (or include a constant column; the intercept is added for you); "
            "drop the redundant columns."
        )
    return x


def _logistic_null(x: np.ndarray, y: np.ndarray, n_iter: int = 50) -> np.ndarray:
    beta = np.zeros(x.shape[1])
    mean = y.mean()
    beta[0] = np.log(mean / (1 - mean))
    for _ in range(n_iter):
        mu = 1 / (1 + np.exp(-(x @ beta)))
        w = mu * (1 - mu)
        step = np.linalg.solve((x * w[:, None]).T @ x, x.T @ (y - mu))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return 1 / (1 + np.exp(-(x @ beta)))


def run_gwas(genotypes, phenotype, *, covariates=None, method: str = "linear",
             chunk_size: int = 4000) -> pd.DataFrame:
    """Test every variant for association with a phenotype, adjusting for covariates.

    ``"linear"``: ordinary least squares of the phenotype on dosage + covariates (exact t-test), computed
    for all SNPs at once by projecting out the covariates. ``"logistic"``: score test of logistic
    regression (the null model with covariates is fitted once; each SNP's score statistic needs only
    matrix products), with ``beta`` the one-step log odds ratio estimate U/V.

    Parameters
    ----------
    genotypes : array (NumPy, zarr or dask), int8, shape (n_variants, n_samples, 2)
        Missing calls are replaced by the variant mean dosage.
    phenotype : array_like, float, shape (n_samples,)
        Quantitative (linear) or 0/1 (logistic); no missing values.
    covariates : array_like or DataFrame, shape (n_samples, n_covariates), optional
        E.g. principal components, age, sex. An intercept is always included.
    method : {"linear", "logistic"}, default "linear"
    chunk_size : int, default 4000
        Variants per block.

    Returns
    -------
    DataFrame, n_variants rows
        ``beta`` (per ALT allele), ``se``, ``chi2`` (1 df), ``p``, ``alt_freq``.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer import run_gwas
    >>> rng = np.random.default_rng(0)
    >>> g = (rng.random((3, 400, 2)) < 0.3).astype(np.int8)
    >>> y = g[0].sum(axis=1) + rng.normal(size=400)
    >>> res = run_gwas(g, y)
    >>> bool(res["p"].iloc[0] < 1e-10)
    True
    """
    from medai_lib.cancer import scale

    if scale.is_large(genotypes):  # a store, or a lazy array too large for memory: the chunked path
        return scale.run_gwas(genotypes, phenotype, covariates=covariates, method=method)
    n_variants, n_samples, _ = _check_genotypes(genotypes)
    if method not in {"linear", "logistic"}:
        raise MedaiInputError(f"'method' must be 'linear' or 'logistic'; got {method!r}.")
    y = np.asarray(phenotype, dtype=float)
    if y.shape != (n_samples,):
        raise MedaiInputError(f"'phenotype' must have shape ({n_samples},), one value per sample; got {y.shape}.")
    if not np.all(np.isfinite(y)):
        raise MedaiInputError("'phenotype' contains NaN; drop those samples (genotype columns too) first.")
    if method == "logistic" and not np.all(np.isin(y, (0, 1))):
        raise MedaiInputError("'phenotype' must be 0/1 for method='logistic'; use method='linear' otherwise.")
    if method == "logistic" and y.min() == y.max():
        raise MedaiInputError("'phenotype' has only one class; a case-control GWAS needs cases and controls.")
    x = _design(covariates, n_samples)
    df_resid = n_samples - x.shape[1] - 1
    if df_resid < 1:
        raise MedaiInputError(f"{n_samples} samples are too few for {x.shape[1]} covariates (with intercept).")

    if method == "linear":
        q, _ = np.linalg.qr(x)
        y_res = y - q @ (q.T @ y)
        yy = float(y_res @ y_res)
        weight = None
    else:
        mu = _logistic_null(x, y)
        w = mu * (1 - mu)
        sw = np.sqrt(w)
        q, _ = np.linalg.qr(x * sw[:, None])
        y_res = y - mu
        weight = sw

    out = {k: np.empty(n_variants) for k in ("beta", "se", "chi2", "p", "alt_freq")}
    q32 = q.astype(np.float32)
    for start, stop in _chunks(n_variants, chunk_size):
        d = genotype_dosage(genotypes[start:stop])  # (m, n)
        out["alt_freq"][start:stop] = d.mean(axis=1) / 2
        if weight is not None:
            d = d * weight.astype(np.float32)[None, :]
        d_res = d - (d @ q32) @ q32.T
        gg = np.einsum("ij,ij->i", d_res, d_res, dtype=np.float64)
        if weight is None:
            gy = (d_res @ y_res.astype(np.float32)).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                beta = gy / gg
                sigma2 = (yy - beta * gy) / df_resid
                se = np.sqrt(sigma2 / gg)
                t = beta / se
            out["chi2"][start:stop] = t**2
            out["p"][start:stop] = 2 * stats.t.sf(np.abs(t), df_resid)
        else:
            # g'(y - mu) with g the covariate-adjusted dosage: divide the weights back out.
            score = (d_res @ (y_res / weight).astype(np.float32)).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                beta = score / gg
                se = 1 / np.sqrt(gg)
                chi2 = score**2 / gg
            out["chi2"][start:stop] = chi2
            out["p"][start:stop] = stats.chi2.sf(chi2, 1)
        out["beta"][start:stop] = beta
        out["se"][start:stop] = se
    return pd.DataFrame(out)


def genomic_inflation(p_values) -> float:
    """Genomic inflation factor lambda_GC: median observed chi-square (1 df) over its null median 0.455.

    Parameters
    ----------
    p_values : array_like, shape (n_variants,)
        NaN values are ignored.

    Returns
    -------
    float
        About 1 without confounding; above 1 with population stratification or polygenic signal.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer import genomic_inflation
    >>> round(genomic_inflation(np.random.default_rng(0).uniform(size=100_000)), 2)
    1.0
    """
    p = np.asarray(p_values, dtype=float)
    p = p[np.isfinite(p)]
    if p.size == 0:
        raise MedaiInputError("'p_values' holds no finite value; run the GWAS on variants with data.")
    if np.any((p < 0) | (p > 1)):
        raise MedaiInputError("'p_values' must lie in [0, 1]; pass p-values, not test statistics.")
    chi2 = stats.chi2.isf(np.clip(p, 1e-300, 1), 1)
    return float(np.median(chi2) / _CHI2_MEDIAN_1DF)
