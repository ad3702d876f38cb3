"""Genetic-plus-clinical cancer risk: portable PRS weights, a logistic model of PRS and clinical covariates,
evaluation by genetic ancestry group beside the oracles, and recalibration for a second group.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

from medai_lib.cancer.gwas import genotype_dosage
from medai_lib.cancer.prs import PolygenicScore
from medai_lib.cancer.qc import _check_genotypes
from medai_lib.errors import MedaiInputError

logger = logging.getLogger(__name__)

CLINICAL_COVARIATES = ("age", "sex", "smoking", "family_history")
#: Covariates coded 0/1 (odds ratios are reported per presence, not per SD).
BINARY_COVARIATES = ("sex", "smoking", "family_history", "pathogenic_variant")


# ----------------------------------------------------------------------------------------- covariates
def covariate_matrix(samples: pd.DataFrame, *, columns=CLINICAL_COVARIATES) -> pd.DataFrame:
    """Numeric clinical covariates for a risk model, checked for missing values and wrong types.

    ``sex`` may be "male"/"female" (coded male = 1) or 0/1; ``smoking``, ``family_history`` and
    ``pathogenic_variant`` (carrier of a known pathogenic variant, from a gene panel) must be 0/1 (or
    True/False); ``age`` must be a number in years.

    Parameters
    ----------
    samples : DataFrame, n_samples rows
        The phenotype table (e.g. ``read_cohort(...).samples``).
    columns : sequence of str, default ("age", "sex", "smoking", "family_history")

    Returns
    -------
    DataFrame, float, shape (n_samples, len(columns))

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer.risk import covariate_matrix
    >>> t = pd.DataFrame({"age": [50, 61.5], "sex": ["male", "female"], "smoking": [0, 1],
    ...                   "family_history": [1, 0]})
    >>> covariate_matrix(t).to_numpy().tolist()
    [[50.0, 1.0, 0.0, 1.0], [61.5, 0.0, 1.0, 0.0]]
    """
    if not isinstance(samples, pd.DataFrame):
        raise TypeError(f"'samples' must be a pandas DataFrame of covariates; got {type(samples).__name__}.")
    columns = list(columns)
    missing_cols = [c for c in columns if c not in samples.columns]
    if missing_cols:
        raise MedaiInputError(
            f"'samples' lacks the covariate column(s) {missing_cols}; it has {list(samples.columns)}. "
            "Read the phenotype table with read_cohort or pass 'columns=' with the names you have."
        )
    out = {}
    for c in columns:
        col = samples[c]
        n_missing = int(col.isna().sum())
        if n_missing:
            raise MedaiInputError(
                f"covariate '{c}' in 'samples' has {n_missing} missing value(s) (rows "
                f"{np.flatnonzero(col.isna().to_numpy())[:5].tolist()}...). Impute them or drop those "
                "people before fitting; a risk model cannot use a blank."
            )
        if c == "sex" and not pd.api.types.is_numeric_dtype(col):
            values = col.astype(str).str.lower()
            bad = sorted(set(values) - {"male", "female"})
            if bad:
                raise MedaiInputError(f"covariate 'sex' must be 'male'/'female' or 0/1; found {bad[:5]}.")
            out[c] = (values == "male").to_numpy(dtype=float)
            continue
        if pd.api.types.is_bool_dtype(col):
            out[c] = col.to_numpy(dtype=float)
            continue
        if not pd.api.types.is_numeric_dtype(col):
            raise MedaiInputError(
                f"covariate '{c}' in 'samples' must be numeric; got dtype {col.dtype} with values like "
                f"{col.head(3).tolist()}. Convert it (e.g. pd.to_numeric) or code it 0/1."
            )
        values = col.to_numpy(dtype=float)
        if c in BINARY_COVARIATES and not np.isin(values, (0.0, 1.0)).all():
            raise MedaiInputError(
                f"covariate '{c}' must be coded 0/1; found {np.unique(values)[:5].tolist()}."
            )
        if not np.isfinite(values).all():
            raise MedaiInputError(f"covariate '{c}' has non-finite values; fix or drop those rows.")
        out[c] = values
    return pd.DataFrame(out, index=samples.index)


# --------------------------------------------------------------------------------- portable PRS weights
def score_weights(score: PolygenicScore, variants: pd.DataFrame) -> pd.DataFrame:
    """A fitted score as a portable weights table (variant id, effect allele, weight), like PGS Catalog files.

    Parameters
    ----------
    score : PolygenicScore
        Fitted on genotypes whose variant rows are ``variants``.
    variants : DataFrame
        ``chrom``, ``pos``, ``id``, ``alt`` of those rows.

    Returns
    -------
    DataFrame
        ``id``, ``chrom``, ``pos``, ``effect_allele``, ``weight``; one row per scored variant.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.cancer import PolygenicScore
    >>> from medai_lib.cancer.risk import score_weights
    >>> v = pd.DataFrame({"chrom": ["1", "1"], "pos": [10, 20], "id": ["a", "b"], "alt": ["T", "G"]})
    >>> s = PolygenicScore(np.array([1]), np.array([0.2]), "x", 1.0, pd.DataFrame())
    >>> score_weights(s, v)["id"].tolist()
    ['b']
    """
    if not isinstance(score, PolygenicScore):
        raise TypeError(f"'score' must be a PolygenicScore; got {type(score).__name__}.")
    needed = {"chrom", "pos", "id", "alt"} - set(variants.columns)
    if needed:
        raise MedaiInputError(f"'variants' lacks columns {sorted(needed)}.")
    if len(score.variant_index) and score.variant_index.max() >= len(variants):
        raise MedaiInputError(
            f"'score' uses variant row {score.variant_index.max()} but 'variants' has {len(variants)} rows; "
            "pass the variant table the score was fitted on."
        )
    rows = variants.iloc[score.variant_index]
    return pd.DataFrame({"id": rows["id"].to_numpy(), "chrom": rows["chrom"].astype(str).to_numpy(),
                         "pos": rows["pos"].to_numpy(), "effect_allele": rows["alt"].to_numpy(),
                         "weight": np.asarray(score.weights, dtype=float)})


def apply_score(genotypes, variants: pd.DataFrame, weights: pd.DataFrame, *, min_overlap: float = 0.95
                ) -> np.ndarray:
    """Score people with a weights table, matching variants by id (effect allele flipped where needed).

    Parameters
    ----------
    genotypes : array, int8, shape (n_variants, n_samples, 2)
    variants : DataFrame, n_variants rows
        ``id``, ``ref``, ``alt`` of the genotype rows.
    weights : DataFrame
        From :func:`score_weights`: ``id``, ``effect_allele``, ``weight``.
    min_overlap : float, default 0.95
        Fraction of the score's variants that must be found; fewer means the score was built on a
        different variant set (another array, another QC) and would be silently wrong.

    Returns
    -------
    ndarray, float, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.cancer.risk import apply_score
    >>> v = pd.DataFrame({"id": ["a"], "ref": ["A"], "alt": ["T"]})
    >>> w = pd.DataFrame({"id": ["a"], "effect_allele": ["A"], "weight": [1.0]})
    >>> apply_score(np.array([[[0, 0], [0, 1]]], dtype=np.int8), v, w).tolist()  # counts REF copies
    [2.0, 1.0]
    """
    n_variants = _check_genotypes(genotypes)[0]
    needed = {"id", "ref", "alt"} - set(variants.columns)
    if needed or len(variants) != n_variants:
        raise MedaiInputError(
            f"'variants' must have 'id', 'ref', 'alt' and {n_variants} rows (one per genotype row)."
        )
    needed = {"id", "effect_allele", "weight"} - set(weights.columns)
    if needed:
        raise MedaiInputError(f"'weights' lacks columns {sorted(needed)}; build it with score_weights().")
    if not 0 < min_overlap <= 1:
        raise MedaiInputError(f"'min_overlap' must be in (0, 1]; got {min_overlap!r}.")
    row_of = pd.Series(np.arange(n_variants), index=variants["id"].astype(str).to_numpy())
    row_of = row_of[~row_of.index.duplicated()]
    ids = weights["id"].astype(str).to_numpy()
    found = np.isin(ids, row_of.index)
    rows = row_of.reindex(ids[found]).to_numpy()
    effect = weights["effect_allele"].astype(str).to_numpy()[found]
    alt = variants["alt"].astype(str).to_numpy()[rows]
    ref = variants["ref"].astype(str).to_numpy()[rows]
    allele_ok = (effect == alt) | (effect == ref)
    overlap = float(allele_ok.sum()) / max(len(weights), 1)
    if overlap < min_overlap:
        raise MedaiInputError(
            f"only {allele_ok.sum()} of the {len(weights)} variants in 'weights' ({overlap:.0%}) are in this "
            f"cohort with a matching allele (need {min_overlap:.0%}): the PRS comes from a different "
            "variant set. Score the cohort the weights were built for, or rebuild the PRS on this cohort's "
            "QC-passed variants."
        )
    w = weights["weight"].to_numpy(dtype=float)[found][allele_ok]
    rows, flip = rows[allele_ok], (effect == ref)[allele_ok]
    dose = genotype_dosage(np.asarray(genotypes)[rows]).astype(np.float64)
    dose[flip] = 2.0 - dose[flip]
    return w @ dose


# ------------------------------------------------------------------------------------------ risk model
@dataclass(frozen=True)
class RiskModel:
    """A fitted logistic risk model: log odds = intercept + sum(coef * standardised predictors).

    Attributes
    ----------
    columns : tuple of str
        Predictors in order (``"prs"`` first when the model uses a PRS).
    mean, scale : ndarray, shape (n_predictors,)
        Standardisation learnt on the training data (coefficients are per standard deviation).
    coef : ndarray, shape (n_predictors,)
    intercept : float
    covariance : ndarray, shape (n_predictors + 1, n_predictors + 1)
        Covariance of (intercept, coef), from the observed information.
    """

    columns: tuple
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    covariance: np.ndarray

    def _x(self, samples: pd.DataFrame, prs) -> np.ndarray:
        clinical = [c for c in self.columns if c != "prs"]
        x = (covariate_matrix(samples, columns=clinical).to_numpy() if clinical
             else np.empty((len(samples), 0)))
        if "prs" in self.columns:
            if prs is None:
                raise MedaiInputError("this model uses a PRS: pass 'prs' (one score per person).")
            prs = _check_prs(prs, len(samples))
            x = np.column_stack([prs, x])
        return (x - self.mean) / self.scale

    def predict(self, samples: pd.DataFrame, *, prs=None) -> np.ndarray:
        """Predicted probability of cancer, shape (n_samples,)."""
        return special.expit(self.intercept + self._x(samples, prs) @ self.coef)

    def odds_ratios(self, *, confidence: float = 0.95) -> pd.DataFrame:
        """Odds ratio per standard deviation of each predictor (per 1 unit for 0/1 ones), with Wald CIs."""
        z = stats.norm.isf((1 - confidence) / 2)
        se = np.sqrt(np.diag(self.covariance))[1:]
        binary = np.array([c in BINARY_COVARIATES for c in self.columns])
        per = np.where(binary, 1 / self.scale, 1.0)  # 0/1 predictors: report per presence, not per SD
        unit = np.where(binary, "yes vs no", "per SD")
        return pd.DataFrame({
            "predictor": list(self.columns), "unit": unit,
            "odds_ratio": np.exp(self.coef * per),
            "ci_low": np.exp((self.coef - z * se) * per), "ci_high": np.exp((self.coef + z * se) * per),
        })


def _check_prs(prs, n: int) -> np.ndarray:
    prs = np.asarray(prs, dtype=float)
    if prs.shape != (n,):
        raise MedaiInputError(f"'prs' must have one score per person ({n}); got shape {prs.shape}.")
    if not np.isfinite(prs).all():
        raise MedaiInputError("'prs' has missing or infinite values; score every person.")
    return prs


def fit_risk_model(samples: pd.DataFrame, y, *, prs=None, columns=CLINICAL_COVARIATES,
                   penalty: float = 0.0, max_iter: int = 50) -> RiskModel:
    """Fit a logistic risk model of the PRS plus clinical covariates (maximum likelihood, optionally ridge).

    A rare predictor whose carriers in the fitting data are all cases (e.g. a pathogenic variant seen in
    three people) separates the outcome: its unpenalised odds ratio is infinite. The fit then stops with a
    clear error; a small ``penalty`` (e.g. 0.1) keeps it finite.

    Parameters
    ----------
    samples : DataFrame, n_samples rows
        Clinical covariates (see :func:`covariate_matrix`).
    y : array_like of 0/1, shape (n_samples,)
        Cancer status.
    prs : array_like, float, shape (n_samples,), optional
        Polygenic score; leave out for a clinical-only model.
    columns : sequence of str
        Clinical covariates; ``()`` with a PRS gives a genetics-only model.
    penalty : float, default 0
        Ridge penalty ``penalty / 2 * sum(b ** 2)`` on the coefficients as reported by
        :meth:`RiskModel.odds_ratios` (log odds ratio per presence for 0/1 predictors, per SD for the
        others; never the intercept): a normal prior of SD ``1 / sqrt(penalty)`` on each. 0 gives the
        unpenalised fit; 0.1 bounds a separated log odds ratio (prior SD 3.2) and barely moves the others.
    max_iter : int, default 50
        Newton iterations.

    Returns
    -------
    RiskModel

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.cancer.risk import fit_risk_model
    >>> rng = np.random.default_rng(0)
    >>> t = pd.DataFrame({"age": rng.uniform(40, 80, 500), "smoking": rng.integers(0, 2, 500)})
    >>> y = rng.random(500) < 0.1 + 0.2 * t["smoking"]
    >>> m = fit_risk_model(t, y, columns=("age", "smoking"))
    >>> bool(m.odds_ratios().set_index("predictor").loc["smoking", "odds_ratio"] > 1.5)
    True
    """
    y = np.asarray(y)
    if y.dtype == bool:
        y = y.astype(float)
    if y.shape != (len(samples),) or not np.isin(y, (0, 1)).all():
        raise MedaiInputError(f"'y' must be 0/1 with one value per row of 'samples' ({len(samples)}); "
                              f"got shape {y.shape} and values {np.unique(y)[:5].tolist()}.")
    y = y.astype(float)
    if y.min() == y.max():
        raise MedaiInputError("'y' holds only one class; a risk model needs cases and controls.")
    columns = tuple(columns)
    x = covariate_matrix(samples, columns=columns).to_numpy() if columns else np.empty((len(samples), 0))
    names = columns
    if prs is not None:
        x = np.column_stack([_check_prs(prs, len(samples)), x])
        names = ("prs",) + columns
    if x.shape[1] == 0:
        raise MedaiInputError("the model has no predictor: pass 'prs' or some 'columns'.")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    if np.any(scale == 0):
        constant = [n for n, s in zip(names, scale) if s == 0]
        raise MedaiInputError(f"predictor(s) {constant} do not vary; drop them.")
    if not (np.isfinite(penalty) and penalty >= 0):
        raise MedaiInputError(f"'penalty' must be a number >= 0; got {penalty!r}.")
    xs = np.column_stack([np.ones(len(y)), (x - mean) / scale])
    binary = np.array([n in BINARY_COVARIATES for n in names])
    # ridge on the reported scale: log odds ratio per presence (0/1 predictors) or per SD (the others)
    ridge = np.concatenate([[0.0], float(penalty) / np.where(binary, scale, 1.0) ** 2])
    beta = np.zeros(xs.shape[1])
    beta[0] = special.logit(y.mean())
    def objective(b):  # penalised log-likelihood
        eta = xs @ b
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)) - 0.5 * np.sum(ridge * b * b))

    converged = False
    current = objective(beta)
    for _ in range(max_iter):
        p = special.expit(xs @ beta)
        hess = xs.T @ (xs * (p * (1 - p))[:, None]) + np.diag(ridge)
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(beta)), xs.T @ (y - p) - ridge * beta)
        t = 1.0  # damped Newton: halve the step until the objective does not decrease
        while t > 1e-4 and objective(beta + t * step) < current - 1e-10:
            t /= 2
        beta += t * step
        current = objective(beta)
        if np.max(np.abs(t * step)) < 1e-8:
            converged = True
            break
    p = special.expit(xs @ beta)
    info = xs.T @ (xs * (p * (1 - p))[:, None]) + np.diag(ridge)
    per_unit = np.abs(beta[1:]) / np.where(binary, scale, 1.0)  # log odds ratio (0/1) or per SD
    if not converged or (penalty == 0 and np.max(per_unit) > 15) or np.linalg.cond(info) > 1e12:
        worst = names[int(np.argmax(per_unit))]
        raise MedaiInputError(
            f"the logistic fit did not converge: predictor '{worst}' (nearly) separates cases from controls "
            "in the fitting data (e.g. every carrier of a rare variant is a case), so its odds ratio is "
            "infinite. Pass a small 'penalty' (e.g. penalty=0.1), fit on more people, or drop that predictor."
        )
    cov = np.linalg.inv(info)
    return RiskModel(columns=names, mean=mean, scale=scale, coef=beta[1:], intercept=float(beta[0]),
                     covariance=cov)


# ----------------------------------------------------------------------------------------- evaluation
def evaluate_by_group(y, scores: dict, groups, *, confidence: float = 0.95) -> pd.DataFrame:
    """AUC (DeLong CI) and calibration of several models, overall and within each genetic ancestry group.

    Parameters
    ----------
    y : array_like of 0/1, shape (n_samples,)
    scores : dict of str -> array, shape (n_samples,)
        Model name to predicted risk (calibration is reported only where the values are probabilities;
        raw scores such as a liability get AUC only).
    groups : array_like of str, shape (n_samples,)
        Genetic ancestry group of each person.
    confidence : float, default 0.95

    Returns
    -------
    DataFrame
        One row per (model, group) with ``group`` "all" for everyone: ``n``, ``n_cases``, ``auc``,
        ``ci_low``, ``ci_high``, ``observed_risk``, ``mean_predicted``, ``calibration_intercept``,
        ``calibration_slope``, ``brier``.

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer.risk import evaluate_by_group
    >>> rng = np.random.default_rng(0); p = rng.uniform(0, 0.5, 400); y = rng.random(400) < p
    >>> t = evaluate_by_group(y, {"m": p}, np.repeat(["A", "B"], 200))
    >>> t["group"].tolist()
    ['all', 'A', 'B']
    """
    from medai_lib.evaluation import auc_delong, brier_score, calibration_slope_intercept

    y = np.asarray(y).astype(float)
    groups = np.asarray(groups).astype(str)
    if groups.shape != y.shape:
        raise MedaiInputError(f"'groups' must have one label per person ({y.shape[0]}); got {groups.shape}.")
    if not isinstance(scores, dict) or not scores:
        raise MedaiInputError("'scores' must be a non-empty dict of model name -> predicted risks.")
    rows = []
    for name, s in scores.items():
        s = np.asarray(s, dtype=float)
        if s.shape != y.shape:
            raise MedaiInputError(f"scores['{name}'] has shape {s.shape}; expected {y.shape}.")
        probability = bool(np.all((s >= 0) & (s <= 1)))
        for g in ["all"] + sorted(str(v) for v in set(groups)):
            m = np.ones_like(y, dtype=bool) if g == "all" else groups == g
            yy, ss = y[m], s[m]
            row = {"model": name, "group": g, "n": int(m.sum()), "n_cases": int(yy.sum())}
            if 0 < yy.sum() < len(yy):
                est = auc_delong(yy, ss, confidence=confidence)
                row.update(auc=est.auc, ci_low=est.ci_low, ci_high=est.ci_high)
                if probability:
                    clipped = np.clip(ss, 1e-6, 1 - 1e-6)
                    try:
                        fit = calibration_slope_intercept(yy, clipped, confidence=confidence)
                        intercept, slope = fit.intercept, fit.slope
                    except MedaiInputError:  # scores that separate the classes or are all equal
                        rows.append(row)
                        continue
                    row.update(observed_risk=yy.mean(), mean_predicted=ss.mean(),
                               calibration_intercept=intercept, calibration_slope=slope,
                               brier=brier_score(yy, ss))
            rows.append(row)
    cols = ["model", "group", "n", "n_cases", "auc", "ci_low", "ci_high", "observed_risk", "mean_predicted",
            "calibration_intercept", "calibration_slope", "brier"]
    return pd.DataFrame(rows).reindex(columns=cols)


@dataclass(frozen=True)
class RecalibrationResult:
    """A model recalibrated for one genetic ancestry group, before/after on a held-out part of that group.

    Attributes
    ----------
    table : DataFrame
        Rows "before" and "after": ``auc``, ``ci_low``, ``ci_high``, ``observed_risk``, ``mean_predicted``,
        ``calibration_intercept``, ``calibration_slope``, ``brier``.
    recalibrator : PlattRecalibrator
        Fitted on the calibration part.
    calibration_index, test_index : ndarray of int
        Positions (into the arrays passed) of the two parts.
    p_before, p_after : ndarray
        Predicted risks of the test part before and after.
    """

    table: pd.DataFrame
    recalibrator: object
    calibration_index: np.ndarray
    test_index: np.ndarray
    p_before: np.ndarray
    p_after: np.ndarray


def recalibrate_for_group(y, p, groups, *, group: str, calibration_fraction: float = 0.5,
                          random_state=0) -> RecalibrationResult:
    """Platt-recalibrate predicted risks for one genetic ancestry group and compare before/after.

    Recalibration refits the intercept and slope on the logit scale with part of the group's own
    outcomes: it can fix the mean risk and the spread, but cannot change the ranking, so the AUC stays
    the same (a score that ranks people poorly in this group still ranks them poorly).

    Parameters
    ----------
    y : array_like of 0/1, shape (n_samples,)
    p : array_like of float in [0, 1], shape (n_samples,)
        Predicted risks from a model fitted elsewhere.
    groups : array_like of str, shape (n_samples,)
    group : str
        The group to recalibrate for.
    calibration_fraction : float, default 0.5
        Share of the group used to fit the recalibration (stratified by outcome); the rest tests it.
    random_state : int or Generator, default 0

    Returns
    -------
    RecalibrationResult

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer.risk import recalibrate_for_group
    >>> rng = np.random.default_rng(0); p = rng.uniform(0.01, 0.3, 2000); y = rng.random(2000) < p / 2
    >>> r = recalibrate_for_group(y, p, np.repeat("B", 2000), group="B")
    >>> ci = r.table["calibration_intercept"]
    >>> bool(abs(ci["after"]) < abs(ci["before"]))
    True
    """
    from medai_lib.evaluation import PlattRecalibrator

    y = np.asarray(y).astype(float)
    p = np.asarray(p, dtype=float)
    groups = np.asarray(groups).astype(str)
    if not (y.shape == p.shape == groups.shape):
        raise MedaiInputError(
            f"'y', 'p' and 'groups' must have the same length; got {y.shape}, {p.shape}, {groups.shape}."
        )
    if group not in set(groups):
        raise MedaiInputError(f"'group' {group!r} is not among the groups {sorted(set(groups))}.")
    if not 0.1 <= calibration_fraction <= 0.9:
        raise MedaiInputError(f"'calibration_fraction' must be in [0.1, 0.9]; got {calibration_fraction!r}.")
    rng = np.random.default_rng(random_state)
    members = np.flatnonzero(groups == group)
    cal = []
    for cls in (0.0, 1.0):
        idx = rng.permutation(members[y[members] == cls])
        cal.append(idx[: int(round(calibration_fraction * len(idx)))])
    cal = np.sort(np.concatenate(cal))
    test = np.setdiff1d(members, cal)
    recal = PlattRecalibrator().fit(y[cal], p[cal])
    after = recal.transform(p[test])
    table = evaluate_by_group(y[test], {"before": p[test], "after": after}, np.repeat(group, len(test)))
    table = table[table["group"] == "all"].drop(columns=["group"]).set_index("model")
    return RecalibrationResult(table=table, recalibrator=recal, calibration_index=cal, test_index=test,
                               p_before=p[test], p_after=after)


# ------------------------------------------------------------------------------------ whole pipeline
@dataclass(frozen=True)
class RiskStudy:
    """Everything a risk-model lesson needs from one cohort after QC, PCA, GWAS and PRS.

    Attributes
    ----------
    samples : DataFrame
        QC-passed people: phenotype columns plus ``split`` ("train" = GWAS, "validation" = PRS tuning and
        risk-model fitting, "test"; people outside ``train_group`` are all "test"), ``prs``,
        ``PC1``..``PC5``, and from the ground truth ``oracle_genetic`` (genetic liability) and
        ``oracle_risk`` (P(case | genetic and clinical liability)).
    genotypes : ndarray, int8, shape (n_qc_variants, n_qc_samples, 2)
    variants : DataFrame
        QC-passed variants.
    gwas : DataFrame
        The training GWAS (case status, PCs as covariates; ``p`` is NaN for variants too rare in the
        training split to be scored).
    score : PolygenicScore
    weights : DataFrame
        The PRS as a portable weights table.
    qc : QCResult
    train_group : str
    published_gwas : DataFrame or None
        The published summary statistics lined up with ``variants`` (:func:`run_gwas` columns), when given.
    published_score : PolygenicScore or None
        PRS from the published summary statistics (``samples["prs_published"]``), see ``published_method``.
    published_weights : DataFrame or None
    """

    samples: pd.DataFrame
    genotypes: np.ndarray
    variants: pd.DataFrame
    gwas: pd.DataFrame
    score: PolygenicScore
    weights: pd.DataFrame
    qc: object
    train_group: str
    published_gwas: "pd.DataFrame | None" = None
    published_score: "PolygenicScore | None" = None
    published_weights: "pd.DataFrame | None" = None


def read_truth(folder) -> dict:
    """The ground truth written beside a simulated cohort (``truth.npz``), as a dict of arrays.

    Examples
    --------
    >>> from medai_lib.cancer.risk import read_truth
    >>> # truth = read_truth(make_cancer_cohort_files(1000, random_state=0))
    """
    path = Path(folder) / "truth.npz"
    if not path.is_file():
        raise MedaiInputError(
            f"no ground truth at {path}: only simulated cohorts have one (oracles need it)."
        )
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:  # a truncated or foreign file
        raise MedaiInputError(f"could not read the ground truth file {path}: {exc}") from exc


NO_GROUP_COLUMN = ("the phenotype table has no 'ancestry_group' column: add one (the genetic ancestry group of "
                   "each person) to phenotypes.csv")
#: The one group everyone is in when the phenotype table has no ``ancestry_group`` column.
ONE_GROUP = "everyone"


def ancestry_groups(samples: pd.DataFrame, *, required: bool = False) -> "np.ndarray | None":
    """The genetic ancestry group of each person, or None (with a warning) when the table has none.

    A study's phenotype table often has no ``ancestry_group`` column. Analyses that can run on everyone as
    one group (QC, PCA, GWAS) pass ``required=False`` and go on; those that compare groups pass
    ``required=True``.

    Parameters
    ----------
    samples : DataFrame
        The phenotype table (e.g. ``read_cohort(...).samples``).
    required : bool, default False
        Raise instead of warning when the column is absent.

    Returns
    -------
    ndarray of str, shape (n_samples,), or None

    Raises
    ------
    MedaiInputError
        ``required=True`` and no ``ancestry_group`` column (the message of :func:`check_groups`), or a
        column with blank entries.

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer.risk import ancestry_groups
    >>> ancestry_groups(pd.DataFrame({"ancestry_group": ["afr", "nfe"]})).tolist()
    ['afr', 'nfe']
    """
    if not isinstance(samples, pd.DataFrame):
        raise TypeError(f"'samples' must be a pandas DataFrame; got {type(samples).__name__}.")
    if "ancestry_group" not in samples:
        if required:
            raise MedaiInputError(NO_GROUP_COLUMN)
        warnings.warn(NO_GROUP_COLUMN + ". Without it everyone is analysed as one group: nothing can be "
                      "compared between groups, and the Hardy-Weinberg test runs on the pooled sample.",
                      UserWarning, stacklevel=2)
        return None
    column = samples["ancestry_group"]
    if column.isna().any():
        rows = np.flatnonzero(column.isna().to_numpy())[:5].tolist()
        raise MedaiInputError(
            f"'ancestry_group' of the phenotype table is blank for {int(column.isna().sum())} people (rows "
            f"{rows}...): fill them (e.g. 'unknown') or drop those people."
        )
    return column.astype(str).to_numpy()


def study_groups(samples: pd.DataFrame, **groups: "str | None") -> dict:
    """The groups a risk study compares, checked; everyone as one group when there is no group column.

    With an ``ancestry_group`` column, each named group is checked as by :func:`check_groups` and returned
    unchanged. Without one, the first name gets :data:`ONE_GROUP` ("everyone"), the others None, with a
    warning that says what is lost (no comparison between groups, no recalibration for another group).

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer.risk import study_groups
    >>> study_groups(pd.DataFrame({"ancestry_group": ["a", "b"]}), TRAIN_GROUP="a", OTHER_GROUP="b")
    {'TRAIN_GROUP': 'a', 'OTHER_GROUP': 'b'}
    """
    if "ancestry_group" in samples:
        check_groups(samples, **groups)
        return dict(groups)
    names = list(groups)
    warnings.warn(NO_GROUP_COLUMN + ". The study runs on everyone as one group ('everyone'): the scores "
                  "cannot be compared between genetic ancestry groups and no group can be recalibrated.",
                  UserWarning, stacklevel=2)
    return {name: (ONE_GROUP if k == 0 else None) for k, name in enumerate(names)}


def available_covariates(samples: pd.DataFrame, columns=CLINICAL_COVARIATES) -> tuple:
    """The clinical covariates the phenotype table has, in ``columns`` order (the risk models use those).

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer.risk import available_covariates
    >>> available_covariates(pd.DataFrame({"sample_id": ["a"], "smoking": [1], "age": [50]}))
    ('age', 'smoking')
    """
    return tuple(c for c in columns if c in samples.columns)


def require_columns(samples: pd.DataFrame, columns, *, purpose: str, how: str = "") -> None:
    """Stop with a clear error, naming phenotypes.csv, when the table lacks columns an analysis cannot do
    without (e.g. ``event_age`` for survival analysis).

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer.risk import require_columns
    >>> require_columns(pd.DataFrame({"case": [1]}), ["case"], purpose="a GWAS")
    """
    missing = [c for c in columns if c not in samples.columns]
    if missing:
        raise MedaiInputError(
            f"the phenotype table (phenotypes.csv) has no column(s) {missing}, which {purpose} needs; it has "
            f"{list(samples.columns)[:10]}. " + (how or "Add them to phenotypes.csv.")
        )


def case_rates_by_group(samples: pd.DataFrame) -> pd.DataFrame:
    """People and the share ever diagnosed (``case``) in each genetic ancestry group, or in everyone.

    The share ever diagnosed by one's current age is not a rate (no person-time) and depends on the ages
    of the people in the group: comparing groups fairly needs age standardisation. With an ``age`` column
    the table also gives each group's median age.

    Returns
    -------
    DataFrame
        Index: group (``ONE_GROUP`` when the table has no ``ancestry_group``); columns ``people``,
        ``share ever diagnosed`` and, with an ``age`` column, ``median age``.

    Examples
    --------
    >>> import pandas as pd
    >>> from medai_lib.cancer.risk import case_rates_by_group
    >>> case_rates_by_group(pd.DataFrame({"case": [1, 0, 0, 0]}))["share ever diagnosed"].tolist()
    [0.25]
    """
    if "case" not in samples:
        raise MedaiInputError("the phenotype table has no 'case' column (1 = diagnosed with cancer, 0 = not): "
                              "add one to phenotypes.csv.")
    labels = samples["ancestry_group"].astype(str) if "ancestry_group" in samples else \
        pd.Series(ONE_GROUP, index=samples.index)
    table = samples["case"].astype(float).groupby(labels.rename("ancestry_group")).agg(["size", "mean"])
    table = table.rename(columns={"size": "people", "mean": "share ever diagnosed"})
    if "age" in samples:
        table["median age"] = samples["age"].astype(float).groupby(labels.rename("ancestry_group")).median()
    return table


def check_groups(samples: pd.DataFrame, **groups: str) -> None:
    """Check that each named genetic ancestry group is a label of ``samples["ancestry_group"]``.

    The keywords are the names the caller knows the groups by (a notebook's parameters), so the error
    says which one to change, e.g. ``check_groups(data.samples, TRAIN_GROUP="nfe", OTHER_GROUP="afr")``.
    Two names given the same group is an error too (a comparison needs two groups).

    Raises
    ------
    MedaiInputError
        A group that is not in the column (the message lists the labels found), or the same group twice.
    """
    if "ancestry_group" not in samples:
        raise MedaiInputError(NO_GROUP_COLUMN)
    found = sorted(map(str, pd.unique(samples["ancestry_group"].dropna())))
    names = " and ".join(groups) if len(groups) <= 2 else ", ".join(groups)
    how_many = {1: "one", 2: "two different ones"}.get(len(groups), f"{len(groups)} different ones")
    for name, group in groups.items():
        if group not in found:
            raise MedaiInputError(
                f"{name} = {group!r} is not a genetic ancestry group of this cohort; its groups (column "
                f"ancestry_group of phenotypes.csv) are {found}: set {names} to {how_many} of them")
    seen = {}
    for name, group in groups.items():
        if group in seen:
            raise MedaiInputError(f"{seen[group]} and {name} are both {group!r}: set two different groups")
        seen[group] = name


def prepare_risk_study(data, *, truth: dict | None = None, train_group: str = "group_A",
                       fractions=(0.4, 0.3, 0.3), n_pcs: int = 5, gwas_method: str = "linear",
                       min_train_maf: float = 0.01, summary_statistics: "pd.DataFrame | None" = None,
                       pathogenic_variants: "pd.DataFrame | None" = None, published_method: str = "ld_lasso",
                       published_r2_threshold: float = 0.2, random_state=0) -> RiskStudy:
    """QC, ancestry PCA, a training GWAS and clumping + thresholding PRSs in one call.

    Two scores come out: ``prs``, from a GWAS run on the training split of this cohort (a few thousand
    people: it captures only a small part of the genetic liability, as Daetwyler's formula predicts), and,
    when ``summary_statistics`` of a large published GWAS are given, ``prs_published``: their effects,
    with this cohort's LD (training split as reference) and a tuning value chosen on the validation split,
    as a clinical score from a consortium GWAS is tuned locally (by default an LD-aware lasso,
    :func:`fit_ld_lasso_prs`). ``pathogenic_variants`` adds
    ``pathogenic_variant`` (1 = carries a known pathogenic allele), as a gene-panel test would report.

    Parameters
    ----------
    data : GenotypeData
        From :func:`read_cohort` (phenotypes with ``ancestry_group``, ``case`` and the clinical covariates).
    truth : dict, optional
        From :func:`read_truth`; adds the oracle columns (NaN without it).
    train_group : str, default "group_A"
        Genetic ancestry group in which the GWAS is run and the PRS tuned. ``"everyone"``
        (:data:`ONE_GROUP`) for a phenotype table without ``ancestry_group``: everyone is one group.
    fractions : (train, validation, test), default (0.4, 0.3, 0.3)
        Split of ``train_group`` (stratified by case status).
    n_pcs : int, default 5
    gwas_method : {"linear", "logistic"}, default "linear"
        GWAS of case status (linear: a linear probability model, stable weights for the score).
    min_train_maf : float, default 0.01
        Variants with a lower minor allele frequency in the training split (in the published study for
        ``prs_published``) are left out of the score.
    summary_statistics : DataFrame, optional
        From :func:`read_summary_statistics` (matched to the cohort's variants by id and alleles).
    pathogenic_variants : DataFrame, optional
        From :func:`read_pathogenic_variants`; carrier status is read from all called variants (before
        the MAF filter of QC, which would drop these rare variants).
    published_method : {"ld_lasso", "ld_ridge", "clumping+thresholding"}, default "ld_lasso"
        How ``prs_published`` is built from the summary statistics, with LD from the training split and
        tuning on the validation split: an LD-aware lasso (:func:`fit_ld_lasso_prs`, as lassosum), an
        LD-adjusted ridge (:func:`fit_ld_ridge_prs`, as LDpred-inf), or clumping + thresholding as for
        the local score.
    published_r2_threshold : float, default 0.2
        LD clumping threshold for ``published_method="clumping+thresholding"``. A large GWAS also detects
        causal variants in moderate LD with a stronger one, so it is clumped less strictly than the local
        score (0.1).
    random_state : int, default 0

    Returns
    -------
    RiskStudy

    Examples
    --------
    >>> from medai_lib.cancer.risk import prepare_risk_study
    >>> # study = prepare_risk_study(read_cohort(vcf, csv), truth=read_truth(folder))
    """
    from medai_lib.cancer.gwas import run_gwas
    from medai_lib.cancer.pca import genetic_pca, ld_prune
    from medai_lib.cancer.prs import (
        clump, fit_clumping_thresholding, fit_ld_lasso_prs, fit_ld_ridge_prs, polygenic_score,
    )
    from medai_lib.cancer.qc import qc_filter, sample_qc, variant_qc
    from medai_lib.cancer.sumstats import align_summary_statistics, pathogenic_carrier

    samples = data.samples.reset_index(drop=True)
    if "ancestry_group" not in samples.columns:
        if train_group != ONE_GROUP:
            raise MedaiInputError(NO_GROUP_COLUMN + f", or pass train_group={ONE_GROUP!r} (see study_groups)")
        samples["ancestry_group"] = ONE_GROUP
    if "case" not in samples.columns:
        raise MedaiInputError("'data.samples' lacks 'case' (1 = diagnosed, 0 = not): add it to phenotypes.csv.")
    if train_group not in set(samples["ancestry_group"]):
        known = sorted(set(samples["ancestry_group"]))
        raise MedaiInputError(f"'train_group' {train_group!r} is not among {known}.")
    if published_method not in {"ld_lasso", "ld_ridge", "clumping+thresholding"}:
        raise MedaiInputError(
            "'published_method' must be 'ld_lasso', 'ld_ridge' or 'clumping+thresholding'; "
            f"got {published_method!r}."
        )
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or np.any(fractions <= 0) or abs(fractions.sum() - 1) > 1e-6:
        raise MedaiInputError(
            f"'fractions' must be three positive shares summing to 1; got {fractions.tolist()}."
        )
    g = np.asarray(data.genotypes)
    groups = samples["ancestry_group"].astype(str).to_numpy()
    carrier = (pathogenic_carrier(g, data.variants, pathogenic_variants)
               if pathogenic_variants is not None else None)
    qc = qc_filter(variant_qc(g, groups=groups), sample_qc(g))
    g = g[qc.variant_mask][:, qc.sample_mask]
    variants = data.variants[qc.variant_mask].reset_index(drop=True)
    keep = np.flatnonzero(qc.sample_mask)
    samples = samples.iloc[keep].reset_index(drop=True)
    groups = groups[keep]
    pca = genetic_pca(g, n_components=n_pcs, variant_mask=ld_prune(g, variants), random_state=random_state)
    for k in range(n_pcs):
        samples[f"PC{k + 1}"] = pca.components[:, k]
    rng = np.random.default_rng(random_state)
    split = np.full(len(samples), "test", dtype=object)
    y = samples["case"].to_numpy(dtype=float)
    for cls in (0.0, 1.0):
        idx = rng.permutation(np.flatnonzero((groups == train_group) & (y == cls)))
        n_tr, n_va = int(fractions[0] * len(idx)), int(fractions[1] * len(idx))
        split[idx[:n_tr]] = "train"
        split[idx[n_tr:n_tr + n_va]] = "validation"
    samples["split"] = split
    tr, va = split == "train", split == "validation"
    gwas = run_gwas(g[:, tr], y[tr], covariates=pca.components[tr], method=gwas_method)
    # Variants rare in the training group get huge, noisy weights and can be common elsewhere: a score
    # only uses variants common where it was trained (as a real study's QC would be run on its own sample).
    freq = gwas["alt_freq"].to_numpy()
    gwas.loc[np.minimum(freq, 1 - freq) < min_train_maf, "p"] = np.nan
    index = clump(gwas, g[:, tr], variants, random_state=random_state)
    score = fit_clumping_thresholding(gwas, index, g[:, va], y[va])
    samples["prs"] = polygenic_score(g, score)
    published = published_score = published_weights = None
    if summary_statistics is not None:
        published = align_summary_statistics(summary_statistics, variants)
        freq = published["alt_freq"].to_numpy()
        published.loc[~(np.minimum(freq, 1 - freq) >= min_train_maf), "p"] = np.nan
        if published_method == "ld_lasso":
            published_score = fit_ld_lasso_prs(published, g[:, tr], variants, g[:, va], y[va])
        elif published_method == "ld_ridge":
            published_score = fit_ld_ridge_prs(published, g[:, tr], variants, g[:, va], y[va])
        else:
            index = clump(published, g[:, tr], variants, r2_threshold=published_r2_threshold,
                          random_state=random_state)
            published_score = fit_clumping_thresholding(published, index, g[:, va], y[va])
        samples["prs_published"] = polygenic_score(g, published_score)
        published_weights = score_weights(published_score, variants)
        logger.info("published PRS of %d variants (p <= %g)", len(published_score.variant_index),
                    published_score.parameter)
    if carrier is not None:
        samples["pathogenic_variant"] = carrier[keep]
    for name, key in (("oracle_genetic", "genetic_liability"), ("oracle_risk", "risk")):
        samples[name] = truth[key][keep] if truth is not None else np.nan
    logger.info("risk study: %d people, %d variants, PRS of %d variants (p <= %g)", len(samples),
                len(variants), len(score.variant_index), score.parameter)
    return RiskStudy(samples=samples, genotypes=g, variants=variants, gwas=gwas, score=score,
                     weights=score_weights(score, variants), qc=qc, train_group=train_group,
                     published_gwas=published, published_score=published_score,
                     published_weights=published_weights)


def plot_auc_by_group(table: pd.DataFrame, *, ax=None, models=None):
    """Forest plot of AUC with confidence intervals, one row per model and genetic ancestry group.

    Parameters
    ----------
    table : DataFrame
        From :func:`evaluate_by_group`.
    ax : matplotlib Axes, optional
    models : sequence of str, optional
        Models to show, in order (default all).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from medai_lib.cancer.risk import evaluate_by_group, plot_auc_by_group
    >>> rng = np.random.default_rng(0); p = rng.uniform(0, 0.5, 400); y = rng.random(400) < p
    >>> ax = plot_auc_by_group(evaluate_by_group(y, {"m": p}, np.repeat(["A", "B"], 200)))
    """
    from medai_lib.plotting import PALETTE, _axes, _describe

    if not {"model", "group", "auc", "ci_low", "ci_high"} <= set(table.columns):
        raise MedaiInputError(
            "'table' must come from evaluate_by_group (model, group, auc, ci_low, ci_high)."
        )
    ax = _axes(ax)
    models = list(pd.unique(table["model"])) if models is None else list(models)
    groups = [g for g in pd.unique(table["group"])]
    markers = ["o", "s", "D", "^", "v"]
    y = 0
    ticks, labels = [], []
    for i, g in enumerate(groups):
        for j, m in enumerate(models):
            row = table[(table["model"] == m) & (table["group"] == g)]
            if row.empty or not np.isfinite(row["auc"].iloc[0]):
                continue
            r = row.iloc[0]
            ax.errorbar(r["auc"], y, xerr=[[r["auc"] - r["ci_low"]], [r["ci_high"] - r["auc"]]],
                        fmt=markers[j % len(markers)], color=PALETTE[j % len(PALETTE)], capsize=3,
                        label=m if i == 0 else None)
            ticks.append(y)
            labels.append(f"{g}: {m}")
            y -= 1
        y -= 0.6
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize="small")
    ax.axvline(0.5, color="0.5", linestyle=":", linewidth=1)
    ax.set(xlabel="AUC (95% CI)", xlim=(0.4, 1.0))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    _describe(ax, "AUC with 95% confidence intervals for each model within each genetic ancestry group; the "
                  "dotted line marks chance (0.5).")
    return ax


def plot_calibration_by_group(y, p, groups, *, show=None, label: str = "model", n_bins: int = 5):
    """Calibration in each genetic ancestry group: mean predicted risk against the observed share with
    cancer, in ``n_bins`` equal-sized bins (fifths by default) of predicted risk, one panel per group, with
    the 95% Wilson confidence interval of each observed share (vertical bars; with a handful of cases per
    bin they are wide).

    Parameters
    ----------
    y : array_like of 0/1, shape (n,)
    p : array_like of float in [0, 1], shape (n,)
    groups : array_like of str, shape (n,)
    show : sequence of str, optional
        Groups to draw, in order (default: every group).
    label : str
        Legend label of the model.
    n_bins : int, default 5

    Returns
    -------
    matplotlib Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from medai_lib.cancer.risk import plot_calibration_by_group
    >>> rng = np.random.default_rng(0); p = rng.uniform(0, 0.5, 400); y = rng.random(400) < p
    >>> fig = plot_calibration_by_group(y, p, np.repeat(["A", "B"], 200))
    """
    import matplotlib.pyplot as plt

    from medai_lib.evaluation.proportions import wilson_interval

    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    groups = np.asarray(groups).astype(str)
    if not (y.shape == p.shape == groups.shape):
        raise MedaiInputError(f"'y', 'p' and 'groups' must have the same length; got {y.shape}, {p.shape}, "
                              f"{groups.shape}.")
    show = list(pd.unique(groups)) if show is None else [g for g in show if g]
    missing = [g for g in show if g not in set(groups)]
    if missing:
        raise MedaiInputError(f"groups {missing} are not among {sorted(set(groups))}.")
    fig, axes = plt.subplots(1, len(show), figsize=(5 * len(show), 4.5), sharey=True, squeeze=False)
    for ax, group in zip(axes[0], show):
        rows = groups == group
        risk, case = pd.Series(p[rows]), pd.Series(y[rows])
        bins = pd.qcut(risk, n_bins, labels=False, duplicates="drop")
        predicted, observed = risk.groupby(bins).mean(), case.groupby(bins).mean()
        low, high = wilson_interval(case.groupby(bins).sum().to_numpy(), case.groupby(bins).size().to_numpy())
        ax.plot(predicted, observed, "o-", color="#0072B2", label=label)
        ax.errorbar(predicted, observed, yerr=[observed - low, high - observed], fmt="none", ecolor="#0072B2",
                    capsize=3, label="95% confidence interval")
        top = max(predicted.max(), float(np.max(high))) * 1.1
        ax.plot([0, top], [0, top], ":", color="0.5", label="perfect calibration")
        ax.set(title=group, xlabel="mean predicted risk", ylabel="observed share with cancer")
    axes[0][0].legend(loc="upper left", fontsize="small")
    return fig


def compare_to_baseline(y, scores: dict, *, baseline: str, models=None, groups=None, group=None,
                        confidence: float = 0.95) -> pd.DataFrame:
    """What each model adds to a baseline model (e.g. a PRS added to clinical factors), on the same people:
    the AUC difference with its DeLong confidence interval, and what the interval says.

    Parameters
    ----------
    y : array_like of 0/1, shape (n,)
    scores : dict of str -> array_like, shape (n,)
        Risks or scores of each model, including ``baseline``.
    baseline : str
        Key of the model the others are compared with.
    models : sequence of str, optional
        Models to compare (default: every other key).
    groups, group : optional
        Compare within one genetic ancestry group (``groups`` one label per person, ``group`` the label).
    confidence : float, default 0.95

    Returns
    -------
    DataFrame
        Index ``model``; ``auc_baseline``, ``auc_model``, ``difference`` (model minus baseline), ``ci_low``,
        ``ci_high``, ``p``, ``reading`` ("higher", "lower" or "no clear difference": the interval excludes 0
        or not).

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer.risk import compare_to_baseline
    >>> rng = np.random.default_rng(0); y = rng.integers(0, 2, 400); good = y + rng.normal(0, 1, 400)
    >>> compare_to_baseline(y, {"noise": rng.normal(size=400), "good": good}, baseline="noise").loc["good", "reading"]
    'higher'
    """
    from medai_lib.evaluation import compare_aucs

    y = np.asarray(y).astype(float)
    if baseline not in scores:
        raise MedaiInputError(f"'baseline' {baseline!r} is not a key of 'scores' ({list(scores)}).")
    rows = np.ones(len(y), dtype=bool)
    if group is not None:
        labels = np.asarray(groups).astype(str)
        if labels.shape != y.shape:
            raise MedaiInputError(f"'groups' must have one label per person ({len(y)}); got {labels.shape}.")
        rows = labels == str(group)
    models = [m for m in scores if m != baseline] if models is None else [m for m in models if m != baseline]
    out = []
    base = np.asarray(scores[baseline], dtype=float)[rows]
    for name in models:
        if name not in scores:
            raise MedaiInputError(f"model {name!r} is not a key of 'scores' ({list(scores)}).")
        s = np.asarray(scores[name], dtype=float)[rows]
        d = compare_aucs(y[rows], s, base, confidence=confidence)
        reading = "higher" if d.ci_low > 0 else "lower" if d.ci_high < 0 else "no clear difference"
        out.append({"model": name, "auc_baseline": d.auc_b, "auc_model": d.auc_a,
                    "difference": d.difference, "ci_low": d.ci_low,
                    "ci_high": d.ci_high, "p": d.p_value, "reading": reading})
    return pd.DataFrame(out).set_index("model")


def prs_percentile(prs, reference) -> np.ndarray:
    """Percentile (0 to 100) of each score among ``reference`` scores: the share below it, ties counted half
    (scipy's ``percentileofscore(kind="mean")``).

    Report a PRS percentile against a reference of the person's own genetic ancestry group: score
    distributions differ between groups, so another group's reference puts too many or too few people in
    the "top 10%".

    Parameters
    ----------
    prs : array_like, float, shape (n,)
    reference : array_like, float, shape (m,)
        Scores of the reference population (same score, same genetic ancestry group as the person).

    Returns
    -------
    ndarray, float, shape (n,)

    Examples
    --------
    >>> from medai_lib.cancer.risk import prs_percentile
    >>> prs_percentile([2.5, 10.0], [1, 2, 3, 4]).tolist()
    [50.0, 100.0]
    """
    prs = np.asarray(prs, dtype=float)
    ref = np.sort(np.asarray(reference, dtype=float).ravel())
    if ref.size == 0 or not np.isfinite(ref).all():
        raise MedaiInputError("'reference' must hold at least one finite score.")
    below = np.searchsorted(ref, prs, side="left")
    at_or_below = np.searchsorted(ref, prs, side="right")
    return 100.0 * (below + at_or_below) / (2.0 * ref.size)


def top_share_by_reference(prs, groups, *, reference_group: str, top: float = 10.0) -> pd.DataFrame:
    """Who is in the "top ``top``%" of a PRS when percentiles come from one group's reference, against each
    person's own group.

    Parameters
    ----------
    prs : array_like, float, shape (n,)
    groups : array_like of str, shape (n,)
        Genetic ancestry group of each person.
    reference_group : str
        The group whose score distribution a report uses for everyone (often the GWAS's group).
    top : float, default 10

    Returns
    -------
    DataFrame
        Index group; ``people``, ``top_by_reference`` (share at or above the reference group's
        (100 - top)th percentile), ``top_by_own_group`` (the same against the person's own group: about
        ``top`` / 100 by construction).

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer.risk import top_share_by_reference
    >>> prs = np.r_[np.arange(100.0), np.arange(100.0) + 50]; g = np.repeat(["A", "B"], 100)
    >>> top_share_by_reference(prs, g, reference_group="A")["top_by_reference"].round(2).tolist()
    [0.1, 0.6]
    """
    prs = np.asarray(prs, dtype=float)
    groups = np.asarray(groups).astype(str)
    if groups.shape != prs.shape:
        raise MedaiInputError(f"'groups' must have one label per score ({prs.shape[0]}); got {groups.shape}.")
    if reference_group not in set(groups):
        raise MedaiInputError(f"'reference_group' {reference_group!r} is not among {sorted(set(groups))}.")
    if not 0 < top < 100:
        raise MedaiInputError(f"'top' must be a percentage between 0 and 100; got {top!r}.")
    reference = prs[groups == reference_group]
    rows = []
    for g in pd.unique(groups):
        own = prs[groups == g]
        rows.append({"group": g, "people": len(own),
                     "top_by_reference": float(np.mean(prs_percentile(own, reference) >= 100 - top)),
                     "top_by_own_group": float(np.mean(prs_percentile(own, own) >= 100 - top))})
    return pd.DataFrame(rows).set_index("group")


def read_optional_study_files(folder) -> tuple:
    """The published GWAS summary statistics and the gene-panel list beside a cohort, each None when the
    folder does not have it (a researcher's own study often has neither).

    Returns
    -------
    (summary_statistics, pathogenic_variants) : DataFrame or None, DataFrame or None
        From :func:`read_summary_statistics` (``published_gwas_summary_statistics.tsv.gz``) and
        :func:`read_pathogenic_variants` (``known_pathogenic_variants.tsv``).

    Examples
    --------
    >>> import tempfile
    >>> from medai_lib.cancer.risk import read_optional_study_files
    >>> read_optional_study_files(tempfile.mkdtemp())
    (None, None)
    """
    from medai_lib.cancer.sumstats import (
        PATHOGENIC_NAME, SUMSTATS_NAME, read_pathogenic_variants, read_summary_statistics,
    )

    folder = Path(folder)
    sumstats = read_summary_statistics(folder / SUMSTATS_NAME) if (folder / SUMSTATS_NAME).is_file() else None
    panel = read_pathogenic_variants(folder / PATHOGENIC_NAME) if (folder / PATHOGENIC_NAME).is_file() else None
    return sumstats, panel


def _published_n(study: RiskStudy) -> int:
    """Sample size of the published GWAS (its largest per-variant N; variants it lacks are NaN)."""
    n = pd.to_numeric(study.published_gwas.get("n", pd.Series(dtype=float)), errors="coerce").max()
    return int(n) if np.isfinite(n) else 0


def describe_scores(study: RiskStudy) -> str:
    """One line per score of a risk study: the GWAS size, the variants in the score and how it was tuned.

    Examples
    --------
    >>> # print(describe_scores(prepare_risk_study(data)))
    """
    lines = [f"Our own GWAS: {int((study.samples['split'] == 'train').sum()):,} people; PRS of "
             f"{len(study.score.variant_index):,} variants (p-value threshold {study.score.parameter:g})"]
    if study.published_score is not None:
        lines.append(f"Published GWAS: {_published_n(study):,} people; PRS of {len(study.published_score.variant_index):,} "
                     f"variants ({study.published_score.method.replace('LD-adjusted lasso', 'LD-aware lasso')})")
    return "\n".join(lines)


def liability_r2_by_group(score, liability, groups, show) -> dict:
    """Share of the true genetic liability's variance a score captures (squared correlation), per group.

    Only a simulation knows the liability: this is the accuracy measure that AUC only hints at.

    Parameters
    ----------
    score, liability : array_like, shape (n,)
    groups : array_like of str, shape (n,)
    show : sequence of str
        Groups to report.

    Returns
    -------
    dict of group -> R-squared

    Examples
    --------
    >>> import numpy as np
    >>> from medai_lib.cancer.risk import liability_r2_by_group
    >>> x = np.arange(10.0); liability_r2_by_group(x, 2 * x, ["a"] * 10, ["a"])
    {'a': 1.0}
    """
    score, liability = np.asarray(score, dtype=float), np.asarray(liability, dtype=float)
    groups = np.asarray(groups).astype(str)
    if not (score.shape == liability.shape == groups.shape):
        raise MedaiInputError(f"'score', 'liability' and 'groups' must have the same length; got {score.shape}, "
                              f"{liability.shape}, {groups.shape}.")
    return {g: round(float(np.corrcoef(score[groups == g], liability[groups == g])[0, 1] ** 2), 12) for g in show}


def expected_r2_table(study: RiskStudy, truth: "dict | None", *, h2: float, genome_morgans: float,
                      effective_size: float = 10_000, train_group: "str | None" = None):
    """Daetwyler's expected R-squared of each score of a simulated study beside the observed one.

    Parameters
    ----------
    study : RiskStudy
    truth : dict or None
        From :func:`read_truth`; adds the observed R-squared (test people of ``train_group``) on the liability
        scale (squared correlation with the true polygenic liability times ``h2``).
    h2 : float
        Heritability of the liability.
    genome_morgans : float
        Genome length in Morgans (for the effective number of segments, with ``effective_size``).

    Returns
    -------
    m_e : float
        Effective number of independent chromosome segments.
    table : DataFrame
        Index "our own" and, with a published score, "published": ``people``, ``expected R2`` and
        ``observed R2 (<group> test)``.

    Examples
    --------
    >>> # m_e, table = expected_r2_table(study, truth, h2=0.3, genome_morgans=0.4)
    """
    from medai_lib.cancer.prs import daetwyler_expected_r2, effective_number_of_segments

    m_e = effective_number_of_segments(effective_size, genome_morgans)
    people = study.samples
    group = train_group or study.train_group
    rows = [("our own", int((people["split"] == "train").sum()), "prs")]
    if study.published_score is not None:
        rows.append(("published", _published_n(study), "prs_published"))
    table = pd.DataFrame({"people": [n for _, n, _ in rows],
                          "expected R2": [daetwyler_expected_r2(h2, n, m_e) for _, n, _ in rows]},
                         index=pd.Index([name for name, _, _ in rows], name="GWAS"))
    if truth is not None:
        test = ((people["split"] == "test") & (people["ancestry_group"] == group)).to_numpy()
        polygenic = np.asarray(truth["polygenic_liability"])[study.qc.sample_mask][test]
        table[f"observed R2 ({group} test)"] = [
            np.corrcoef(people.loc[test, col], polygenic)[0, 1] ** 2 * h2 for _, _, col in rows]
    return m_e, table


def plot_decision_panels(panels, *, thresholds, band=(0.10, 0.20)):
    """Decision curves side by side, one panel per group of people, with a shaded band of thresholds.

    Parameters
    ----------
    panels : list of (title, y, curves)
        ``y`` the outcomes of the panel's people; ``curves`` a list of (label, risk, colour), each risk one
        value per person of ``y``.
    thresholds : array_like of float
    band : (float, float) or None
        Thresholds at which the decision would be taken, shaded.

    Returns
    -------
    matplotlib Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import numpy as np
    >>> from medai_lib.cancer.risk import plot_decision_panels
    >>> rng = np.random.default_rng(0); p = rng.uniform(0, 0.5, 300); y = rng.random(300) < p
    >>> fig = plot_decision_panels([("all", y, [("model", p, "#0072B2")])], thresholds=np.arange(0.02, 0.4, 0.02))
    """
    import matplotlib.pyplot as plt

    from medai_lib.evaluation import decision_curve
    from medai_lib.plotting import plot_decision_curve

    if not panels:
        raise MedaiInputError("'panels' must hold at least one (title, y, curves) panel.")
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, (title, y, curves) in zip(axes[0], panels):
        for label, risk, color in curves:
            plot_decision_curve(decision_curve(np.asarray(y), np.asarray(risk), thresholds=thresholds), ax=ax,
                                label=label, color=color)
        if band is not None:
            ax.axvspan(band[0], band[1], color="0.9", zorder=0)
        ax.set_title(title)
        ax.legend(fontsize="x-small")
    return fig
