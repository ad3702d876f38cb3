"""Subgroup audits of a risk model: per-group metrics (fairlearn's MetricFrame) with the course's bootstrap
intervals, and the arithmetic that says which gaps come from prevalence, calibration or the model.

Why not every gap can be closed at once: when prevalences differ, a calibrated score cannot have equal
false-positive and false-negative rates in every group (Chouldechova, Big Data 2017; Kleinberg et al.,
ITCS 2017). :func:`implied_fpr` is that identity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._bootstrap import percentile_interval, replicate_aucs
from medai_lib.evaluation.proportions import wilson_interval
from medai_lib.evaluation._validation import (
    check_confidence,
    check_labels,
    check_n_bootstrap,
    check_same_length,
    check_scores,
)

#: Metrics of :func:`group_audit`, in display order.
AUDIT_METRICS = ("prevalence", "mean_predicted", "observed_to_expected", "auc", "selection_rate",
                 "sensitivity", "false_positive_rate", "ppv")
_MIN_GROUP = 2


def _rates(y: np.ndarray, p: np.ndarray, flag: np.ndarray) -> dict[str, np.ndarray]:
    """Threshold and calibration-in-the-large metrics along the last axis (works on replicates)."""
    pos = y.sum(-1)
    neg = y.shape[-1] - pos
    tp = (flag & (y == 1)).sum(-1)
    fp = (flag & (y == 0)).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "prevalence": pos / y.shape[-1],
            "mean_predicted": p.mean(-1),
            "observed_to_expected": (pos / y.shape[-1]) / p.mean(-1),
            "selection_rate": flag.mean(-1),
            "sensitivity": np.where(pos > 0, tp / np.maximum(pos, 1), np.nan),
            "false_positive_rate": np.where(neg > 0, fp / np.maximum(neg, 1), np.nan),
            "ppv": np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), np.nan),
        }


def _counts(y: np.ndarray, flag: np.ndarray) -> dict[str, tuple[int, int]]:
    """(successes, trials) of each proportion, for its Wilson interval (not zero-width at 0/n or n/n)."""
    pos = int(y.sum())
    tp, fp = int((flag & (y == 1)).sum()), int((flag & (y == 0)).sum())
    return {"prevalence": (pos, y.size), "selection_rate": (int(flag.sum()), y.size), "sensitivity": (tp, pos),
            "false_positive_rate": (fp, y.size - pos), "ppv": (tp, tp + fp)}


def _metric_frame(y, p, flag, groups):
    """Point estimates per group through fairlearn's MetricFrame (y_pred carries score and flag)."""
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import roc_auc_score

    packed = np.column_stack([p, flag.astype(float)])

    def metric(name):
        def fn(y_true, y_pred):
            y_true = np.asarray(y_true)
            y_pred = np.asarray(y_pred)
            if name == "auc":
                return roc_auc_score(y_true, y_pred[:, 0]) if 0 < y_true.sum() < y_true.size else np.nan
            return float(_rates(y_true, y_pred[:, 0], y_pred[:, 1] > 0.5)[name])
        return fn

    metrics = {name: metric(name) for name in AUDIT_METRICS}
    return MetricFrame(metrics=metrics, y_true=y, y_pred=packed, sensitive_features=pd.Series(groups, name="group"))


@dataclass(frozen=True, eq=False)
class GroupAudit:
    """Result of :func:`group_audit`.

    Attributes
    ----------
    table : DataFrame
        One row per group (``overall`` first): ``n``, ``n_positive`` and, for each metric in
        :data:`AUDIT_METRICS`, the estimate and ``<metric>_ci_low`` / ``<metric>_ci_high``.
    gaps : DataFrame
        One row per metric: ``largest_gap`` (largest minus smallest group value, from MetricFrame's
        ``difference()``), the bootstrap interval of the difference between the groups at each end (it
        includes 0 when the gap is not shown to exist), and those groups.
    threshold : float
    variable : str
    """

    table: pd.DataFrame
    gaps: pd.DataFrame
    threshold: float
    variable: str


def group_audit(y_true, y_prob, groups, *, threshold: float = 0.5, variable: str | None = None,
                n_bootstrap: int = 500, confidence: float = 0.95, random_state=0) -> GroupAudit:
    """Audit a risk model across the groups of one variable (sex, age band, site, genetic ancestry group).

    Per group: prevalence, mean predicted risk, observed-to-expected ratio (calibration in the large: 1 is
    calibrated, above 1 the model underestimates risk), AUC (discrimination), and at ``threshold`` the
    share flagged, sensitivity, false-positive rate and PPV. Point estimates come from fairlearn's
    ``MetricFrame``. Intervals: Wilson for the proportions (never zero-width, even at 0 of 30); a bootstrap
    that resamples cases within each group for the AUC (stratified by outcome), the mean predicted risk and
    the observed-to-expected ratio, and for the gaps between groups.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_cases,)
    y_prob : array_like of float in [0, 1], shape (n_cases,)
        Predicted risks.
    groups : array_like, shape (n_cases,)
        Group label of each case; missing labels form the group ``"(missing)"``.
    threshold : float, default 0.5
        Flagged (test-positive) when ``y_prob >= threshold``.
    variable : str, optional
        Name of the grouping variable (default: the Series name, or ``"group"``).
    n_bootstrap : int, default 500
    confidence : float, default 0.95
    random_state : int, default 0

    Returns
    -------
    GroupAudit

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0, 1, 400); y = (rng.uniform(size=400) < p).astype(int)
    >>> audit = group_audit(y, p, np.repeat(["F", "M"], 200), n_bootstrap=100)
    >>> audit.table.index.tolist()
    ['overall', 'F', 'M']
    """
    y = check_labels(y_true)
    p = check_scores(y_prob, "y_prob", probability=True)
    check_same_length(y_true=y, y_prob=p)
    confidence = check_confidence(confidence)
    n_bootstrap = check_n_bootstrap(n_bootstrap)
    if variable is None:
        variable = str(groups.name) if isinstance(groups, pd.Series) and groups.name is not None else "group"
    labels = np.asarray(pd.Series(np.asarray(groups, dtype=object)).where(pd.notna(np.asarray(groups, dtype=object)),
                                                                           "(missing)").astype(str))
    check_same_length(y_true=y, groups=labels)
    order = sorted(pd.unique(labels))
    small = [g for g in order if (labels == g).sum() < _MIN_GROUP]
    if small:
        raise MedaiInputError(f"groups {small} of '{variable}' have fewer than {_MIN_GROUP} cases; merge them "
                              "with a neighbouring group (e.g. wider age bands) before auditing.")
    flag = p >= threshold
    frame = _metric_frame(y, p, flag, labels)
    rng = np.random.default_rng(random_state)
    rows = []
    for name, mask in [("overall", np.ones_like(flag))] + [(g, labels == g) for g in order]:
        yg, pg, fg = y[mask], p[mask], flag[mask]
        est = frame.overall if name == "overall" else frame.by_group.loc[name]
        row = {"n": int(mask.sum()), "n_positive": int(yg.sum())}
        idx = rng.integers(0, yg.size, size=(n_bootstrap, yg.size))
        reps = _rates(yg[idx], pg[idx], fg[idx])
        if 0 < yg.sum() < yg.size:
            reps["auc"] = replicate_aucs(yg, [pg], n_bootstrap, rng)[0]
        counts = _counts(yg, fg)
        for metric in AUDIT_METRICS:
            row[metric] = float(est[metric])
            if metric in counts:
                num, den = counts[metric]
                low, high = wilson_interval(num, den, confidence=confidence) if den else (np.nan, np.nan)
            elif metric in reps and np.isfinite(row[metric]):
                low, high = percentile_interval(reps[metric], confidence)
            else:
                low = high = np.nan
            row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = float(low), float(high)
        rows.append(pd.Series(row, name=name))
    table = pd.DataFrame(rows)
    table.index.name = variable
    gaps = _gaps(frame, table, order, y, p, flag, labels, n_bootstrap, confidence, rng)
    return GroupAudit(table=table, gaps=gaps, threshold=float(threshold), variable=variable)


def _gaps(frame, table, order, y, p, flag, labels, n_bootstrap, confidence, rng) -> pd.DataFrame:
    """Largest-minus-smallest group value per metric, with a bootstrap interval.

    The interval is that of the signed difference between the two groups at the ends (as ranked by the
    point estimates), resampled within each group: it includes 0 when the data cannot tell them apart (an
    interval of the max-minus-min spread itself never would).
    """
    difference = frame.difference(method="between_groups")
    reps = {m: np.full((n_bootstrap, len(order)), np.nan) for m in AUDIT_METRICS}
    for j, g in enumerate(order):
        mask = labels == g
        idx = rng.integers(0, mask.sum(), size=(n_bootstrap, mask.sum()))
        for metric, values in _rates(y[mask][idx], p[mask][idx], flag[mask][idx]).items():
            reps[metric][:, j] = values
        yg = y[mask]
        if 0 < yg.sum() < yg.size:
            reps["auc"][:, j] = replicate_aucs(yg, [p[mask]], n_bootstrap, rng)[0]
    rows = []
    by_group = table.drop(index="overall")
    for metric in AUDIT_METRICS:
        values = by_group[metric]
        low = high = np.nan
        lowest = highest = None
        if values.notna().sum() >= 2:
            lowest, highest = values.idxmin(), values.idxmax()
            signed = reps[metric][:, order.index(highest)] - reps[metric][:, order.index(lowest)]
            low, high = percentile_interval(signed, confidence)
        rows.append({"metric": metric, "largest_gap": float(difference[metric]), "ci_low": float(low),
                     "ci_high": float(high), "lowest_group": lowest, "highest_group": highest})
    return pd.DataFrame(rows).set_index("metric")


def ppv_at_prevalence(sensitivity, false_positive_rate, prevalence):
    """PPV that a test with this sensitivity and false-positive rate has at another prevalence (Bayes).

    ``PPV = sens·π / (sens·π + FPR·(1 - π))``. Comparing a group's PPV with the PPV its own error rates would
    give at the other group's prevalence separates the part of a PPV gap due to prevalence alone.

    Examples
    --------
    >>> round(float(ppv_at_prevalence(0.9, 0.1, 0.1)), 3)
    0.5
    """
    sens, fpr, prev = (np.asarray(v, dtype=float) for v in (sensitivity, false_positive_rate, prevalence))
    for name, v in (("sensitivity", sens), ("false_positive_rate", fpr), ("prevalence", prev)):
        if np.any((v < 0) | (v > 1)) or not np.all(np.isfinite(v)):
            raise MedaiInputError(f"{name} must be a proportion between 0 and 1; got {v.tolist()}.")
    with np.errstate(invalid="ignore", divide="ignore"):
        return sens * prev / (sens * prev + fpr * (1 - prev))


def implied_fpr(prevalence, ppv, false_negative_rate):
    """False-positive rate forced by a prevalence, a PPV and a false-negative rate (Chouldechova 2017).

    ``FPR = π/(1-π) · (1-PPV)/PPV · (1-FNR)``: two groups with different prevalences, the same PPV at the
    threshold (predictive parity) and the same FNR must have different FPRs, unless the model is perfect
    (FNR = FPR = 0). Predictive parity is not calibration within groups: the incompatibility of calibration
    within groups with equal average scores among cases and among non-cases when base rates differ is a
    separate result (Kleinberg, Mullainathan and Raghavan, arXiv 2016; ITCS 2017).

    Examples
    --------
    >>> [round(float(v), 3) for v in implied_fpr([0.1, 0.3], 0.5, 0.2)]
    [0.089, 0.343]
    """
    prev, ppv_, fnr = (np.asarray(v, dtype=float) for v in (prevalence, ppv, false_negative_rate))
    for name, v in (("prevalence", prev), ("ppv", ppv_)):
        if np.any((v <= 0) | (v >= 1)) or not np.all(np.isfinite(v)):
            raise MedaiInputError(f"{name} must be a proportion strictly between 0 and 1; got {v.tolist()}.")
    if np.any((fnr < 0) | (fnr > 1)) or not np.all(np.isfinite(fnr)):
        raise MedaiInputError(f"false_negative_rate must be a proportion between 0 and 1; got {fnr.tolist()}.")
    return prev / (1 - prev) * (1 - ppv_) / ppv_ * (1 - fnr)


def gap_sources(audit: GroupAudit, *, reference: str, other: str) -> pd.DataFrame:
    """Where a PPV gap between two groups comes from: prevalence, calibration or the model.

    Rows: ``prevalence`` (different base rates), ``calibration`` (observed-to-expected ratio: is the risk
    right on average?), ``discrimination`` (AUC: does the model rank as well?), ``error rates`` (sensitivity
    and false-positive rate at the threshold), and ``ppv``, ``ppv if other had reference prevalence`` (the
    other group's own error rates at the reference group's prevalence).

    Returns
    -------
    DataFrame with columns ``reference``, ``other``, ``difference`` (other minus reference).
    """
    t = audit.table
    for name, g in (("reference", reference), ("other", other)):
        if g not in t.index or g == "overall":
            raise MedaiInputError(f"{name} = {g!r} is not a group of this audit; its groups are "
                                  f"{[x for x in t.index if x != 'overall']}.")
    rows = {}
    for label, metric in (("prevalence", "prevalence"), ("calibration (observed/expected)", "observed_to_expected"),
                          ("discrimination (AUC)", "auc"), ("sensitivity", "sensitivity"),
                          ("false-positive rate", "false_positive_rate"), ("PPV", "ppv")):
        rows[label] = (t.loc[reference, metric], t.loc[other, metric])
    swapped = ppv_at_prevalence(t.loc[other, "sensitivity"], t.loc[other, "false_positive_rate"],
                                t.loc[reference, "prevalence"])
    rows["PPV at the reference group's prevalence"] = (t.loc[reference, "ppv"], float(swapped))
    out = pd.DataFrame(rows, index=[reference, other]).T
    out.columns = ["reference: " + str(reference), "other: " + str(other)]
    out["difference"] = out.iloc[:, 1] - out.iloc[:, 0]
    return out


def age_bands(age, *, edges=(0, 50, 65, 200), labels=None) -> pd.Series:
    """Age bands for an audit, e.g. ``<50``, ``50-64``, ``65+`` (left-closed bins of whole years).

    Examples
    --------
    >>> age_bands([30, 50, 64.5, 80]).tolist()
    ['<50', '50-64', '50-64', '65+']
    """
    age = np.asarray(age, dtype=float)
    edges = list(edges)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise MedaiInputError(f"edges must be increasing ages such as (0, 50, 65, 200); got {edges}.")
    if np.any(~np.isfinite(age)):
        raise MedaiInputError("age has missing values: drop or impute them before banding.")
    if labels is None:
        labels = []
        for i, (a, b) in enumerate(zip(edges, edges[1:])):
            if i == 0:
                labels.append(f"<{b:g}")
            elif i == len(edges) - 2:
                labels.append(f"{a:g}+")
            else:
                labels.append(f"{a:g}-{b - 1:g}")
    return pd.Series(pd.cut(age, edges, right=False, labels=labels).astype(str), name="age band")


def plot_group_audit(audit: GroupAudit, *, metrics=("prevalence", "mean_predicted", "auc", "sensitivity",
                                                     "false_positive_rate", "ppv"), ax=None):
    """Forest plot: each metric's estimate and interval per group, one panel column per metric."""
    import matplotlib.pyplot as plt

    metrics = list(metrics)
    if ax is None:
        _, ax = plt.subplots(1, len(metrics), figsize=(2.3 * len(metrics), 0.45 * len(audit.table) + 1.4),
                             sharey=True, layout="constrained")
    axes = np.atleast_1d(ax)
    table = audit.table
    colors = ["0.3"] + ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"] * 3
    ypos = np.arange(len(table))[::-1]
    for a, metric in zip(axes, metrics):
        est = table[metric].to_numpy()
        lo, hi = table[f"{metric}_ci_low"].to_numpy(), table[f"{metric}_ci_high"].to_numpy()
        for k in range(len(table)):
            a.errorbar(est[k], ypos[k], xerr=[[max(est[k] - lo[k], 0)], [max(hi[k] - est[k], 0)]],
                       fmt="o", color=colors[k], capsize=3)
        a.set_title(metric.replace("_", " "), fontsize="small")
        top = np.nanmax(np.r_[hi, est])
        if metric == "observed_to_expected":
            a.axvline(1.0, color="0.5", ls=":")
            a.set_xlim(0, max(2.0, top * 1.1))
        else:
            a.set_xlim(0, min(1.02, max(0.1, top * 1.15)))
        a.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ypos, [str(i) for i in table.index])
    axes[0].set_ylabel(audit.variable)
    return axes
