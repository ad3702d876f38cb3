"""Agreement between two AHI measurements: Bland-Altman with confidence intervals, correlation,
weighted Cohen's kappa on AASM severity classes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from medai_lib.apnea.simulate import severity_class
from medai_lib.errors import MedaiInputError

SEVERITY_ORDER = ("normal", "mild", "moderate", "severe")


def _pair(reference, measured) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=float)
    mea = np.asarray(measured, dtype=float)
    if ref.ndim != 1 or ref.shape != mea.shape:
        raise MedaiInputError(
            "reference and measured must be 1-D arrays of equal length; "
            f"got shapes {ref.shape} and {mea.shape}."
        )
    if len(ref) < 3:
        raise MedaiInputError(f"agreement needs at least 3 pairs; got {len(ref)}.")
    if not (np.isfinite(ref).all() and np.isfinite(mea).all()):
        raise MedaiInputError(
            "reference and measured contain NaN or infinite values; drop those pairs first."
        )
    return ref, mea


@dataclass(frozen=True)
class BlandAltman:
    """Bland-Altman summary of ``measured - reference``.

    ``bias_ci``, ``lower_ci``, ``upper_ci`` are confidence intervals (t distribution; the limits'
    standard error is ``sd * sqrt(3 / n)``, Bland & Altman 1986/1999).
    """

    n: int
    bias: float
    sd: float
    lower: float
    upper: float
    bias_ci: tuple[float, float]
    lower_ci: tuple[float, float]
    upper_ci: tuple[float, float]
    confidence: float


def bland_altman(reference, measured, *, confidence: float = 0.95) -> BlandAltman:
    """Bias and 95% limits of agreement of ``measured`` against ``reference``, with CIs.

    Parameters
    ----------
    reference, measured : array_like, shape (n_subjects,)
        E.g. true AHI and scored AHI.
    confidence : float, default 0.95
        Coverage of the confidence intervals (the limits of agreement are always mean +- 1.96 SD).

    Returns
    -------
    BlandAltman

    Examples
    --------
    >>> ba = bland_altman([10, 20, 30, 40], [11, 19, 32, 41])
    >>> round(ba.bias, 2)
    0.75
    """
    if not 0 < confidence < 1:
        raise MedaiInputError(f"confidence must be in (0, 1); got {confidence!r}.")
    ref, mea = _pair(reference, measured)
    d = mea - ref
    n = len(d)
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    lo, hi = bias - 1.96 * sd, bias + 1.96 * sd
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    se_b, se_l = sd / np.sqrt(n), sd * np.sqrt(3.0 / n)
    return BlandAltman(n=n, bias=bias, sd=sd, lower=lo, upper=hi,
                       bias_ci=(bias - t * se_b, bias + t * se_b), lower_ci=(lo - t * se_l, lo + t * se_l),
                       upper_ci=(hi - t * se_l, hi + t * se_l), confidence=confidence)


def severity_kappa(reference_ahi, measured_ahi, *, weights: str = "linear") -> float:
    """Weighted Cohen's kappa of AASM severity classes (normal < mild < moderate < severe).

    Uses :func:`sklearn.metrics.cohen_kappa_score` with ``weights`` ``"linear"`` or ``"quadratic"``.

    Examples
    --------
    >>> severity_kappa([2, 8, 20, 40], [3, 9, 18, 45])
    1.0
    """
    from sklearn.metrics import cohen_kappa_score

    if weights not in ("linear", "quadratic"):
        raise MedaiInputError(f"weights must be 'linear' or 'quadratic'; got {weights!r}.")
    ref, mea = _pair(reference_ahi, measured_ahi)
    code = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    a = [code[s] for s in severity_class(ref)]
    b = [code[s] for s in severity_class(mea)]
    return float(cohen_kappa_score(a, b, weights=weights, labels=list(range(4))))


@dataclass(frozen=True)
class AgreementSummary:
    """Bland-Altman, correlations, weighted kappas and the severity confusion matrix."""

    bland_altman: BlandAltman
    pearson_r: float
    spearman_rho: float
    kappa_linear: float
    kappa_quadratic: float
    confusion: np.ndarray  # shape (4, 4): rows reference class, columns measured class
    classes: tuple[str, ...] = SEVERITY_ORDER


def agreement_summary(reference_ahi, measured_ahi, *, confidence: float = 0.95) -> AgreementSummary:
    """All agreement statistics of measured vs reference AHI in one frozen dataclass.

    Examples
    --------
    >>> s = agreement_summary([2, 8, 20, 40, 12], [3, 9, 18, 45, 16])
    >>> int(s.confusion.sum())
    5
    """
    from sklearn.metrics import confusion_matrix

    ref, mea = _pair(reference_ahi, measured_ahi)
    cm = confusion_matrix(severity_class(ref), severity_class(mea), labels=list(SEVERITY_ORDER))
    return AgreementSummary(
        bland_altman=bland_altman(ref, mea, confidence=confidence),
        pearson_r=float(stats.pearsonr(ref, mea)[0]), spearman_rho=float(stats.spearmanr(ref, mea)[0]),
        kappa_linear=severity_kappa(ref, mea, weights="linear"),
        kappa_quadratic=severity_kappa(ref, mea, weights="quadratic"), confusion=cm,
    )


def plot_bland_altman(reference, measured, *, ax=None, confidence: float = 0.95, units: str = "events/h",
                      title: str | None = None):
    """Bland-Altman plot: difference against mean, bias and limits of agreement with their CIs.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_bland_altman([10, 20, 30, 40], [11, 19, 32, 41])
    """
    import matplotlib.pyplot as plt

    ref, mea = _pair(reference, measured)
    ba = bland_altman(ref, mea, confidence=confidence)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    mean, diff = (ref + mea) / 2, mea - ref
    ax.scatter(mean, diff, s=22, color="#0072B2", edgecolor="white", linewidth=0.5, zorder=3)
    pct = int(round(confidence * 100))
    for val, ci, style, label in ((ba.bias, ba.bias_ci, "-", f"bias {ba.bias:+.2f}"),
                                  (ba.lower, ba.lower_ci, "--", f"lower LoA {ba.lower:+.2f}"),
                                  (ba.upper, ba.upper_ci, "--", f"upper LoA {ba.upper:+.2f}")):
        ax.axhline(val, color="#D55E00" if style == "-" else "#E69F00", ls=style, lw=1.3, label=label)
        ax.axhspan(ci[0], ci[1], color="#E69F00" if style == "--" else "#D55E00", alpha=0.12, lw=0)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel(f"mean of reference and measured ({units})")
    ax.set_ylabel(f"measured - reference ({units})")
    ax.set_title(title or f"Bland-Altman (n={ba.n}; shaded: {pct}% CI)")
    ax.legend(frameon=False, fontsize=8, loc="best")
    return ax
