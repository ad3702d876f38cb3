"""Figures shared by every track, in the ``ax=None`` style: each function draws on the given Axes (or a
new one), returns the Axes, and uses the colour-blind-safe Okabe-Ito palette.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

#: Okabe & Ito (2008) palette, distinguishable with the common colour-vision deficiencies.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
#: The order in which series are coloured (black kept for reference lines).
PALETTE: list[str] = [OKABE_ITO[k] for k in
                      ("blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue", "yellow")]
REFERENCE_COLOR = "#7F7F7F"


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.5, 4.5))
    return ax


def _describe(ax, text: str) -> None:
    # kept on the Axes so that widgets and reports can show it as the figure's caption / alt text
    ax.medai_caption = text


def _series_color(ax, color: str | None) -> str:
    """The next palette colour for this Axes (so overlaid curves differ), unless a colour is given."""
    n = getattr(ax, "_medai_n_series", 0)
    ax._medai_n_series = n + 1
    return color or PALETTE[n % len(PALETTE)]


def _first_time(ax, key: str) -> bool:
    """True the first time a reference element (chance line, treat-all...) is drawn on this Axes."""
    drawn = getattr(ax, "_medai_references", set())
    ax._medai_references = drawn | {key}
    return key not in drawn


def caption_of(ax) -> str:
    """The plain-language description a plotting function attached to ``ax`` ("" if none)."""
    return getattr(ax, "medai_caption", "")


def plot_roc(
    roc,
    *,
    ax: "Axes | None" = None,
    label: str | None = None,
    color: str | None = None,
    show_band: bool = True,
    operating_point=None,
) -> "Axes":
    """ROC curve with its AUC, an optional bootstrap band and an optional operating point.

    Parameters
    ----------
    roc : medai_lib.evaluation.RocCurve
        From ``roc_curve(y_true, y_score, n_bootstrap=...)`` (the band needs ``n_bootstrap > 0``).
    ax : matplotlib Axes, optional
    label : str, optional
        Legend label; the AUC is appended.
    color : str, optional
        Default: the next Okabe-Ito colour on this Axes (overlaid curves get different colours).
    show_band : bool, default True
    operating_point : (fpr, tpr) tuple or OperatingPoint, optional
        Marked with a black-edged dot.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from medai_lib.evaluation import roc_curve
    >>> ax = plot_roc(roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]))
    """
    from medai_lib.evaluation.roc import RocCurve

    if not isinstance(roc, RocCurve):
        raise TypeError(f"roc must be a RocCurve from medai_lib.evaluation.roc_curve; got {type(roc).__name__}.")
    ax = _axes(ax)
    color = _series_color(ax, color)
    name = f"{label}: " if label else ""
    if _first_time(ax, "chance"):
        ax.plot([0, 1], [0, 1], linestyle=":", color=REFERENCE_COLOR, linewidth=1, label="chance")
    ax.step(roc.fpr, roc.tpr, where="post", color=color, linewidth=2, label=f"{name}AUC {roc.auc:.3f}")
    text = f"ROC curve{' of ' + label if label else ''}: AUC {roc.auc:.3f}"
    if show_band and roc.has_band:
        ax.fill_between(roc.fpr_grid, roc.tpr_low, roc.tpr_high, step="post", color=color, alpha=0.2,
                        linewidth=0, label=f"{roc.confidence:.0%} bootstrap band")
        text += f", shaded {roc.confidence:.0%} pointwise bootstrap band"
    if operating_point is not None:
        if hasattr(operating_point, "sensitivity"):
            fpr, tpr = 1 - operating_point.specificity, operating_point.sensitivity
        else:
            fpr, tpr = (float(v) for v in operating_point)
        ax.plot([fpr], [tpr], marker="o", markersize=9, color=color, markeredgecolor="black",
                linestyle="none", label=f"operating point (sens {tpr:.2f}, spec {1 - fpr:.2f})")
        text += f"; operating point at sensitivity {tpr:.2f}, specificity {1 - fpr:.2f}"
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal",
           xlabel="1 - specificity (false-positive rate)", ylabel="Sensitivity (true-positive rate)")
    ax.legend(loc="lower right", fontsize="small")
    _describe(ax, text + ". The dotted diagonal is a test no better than chance.")
    return ax


def plot_pr(pr, *, ax: "Axes | None" = None, label: str | None = None, color: str | None = None) -> "Axes":
    """Precision-recall curve with the prevalence (no-skill) baseline.

    Parameters
    ----------
    pr : medai_lib.evaluation.PrCurve
    ax : matplotlib Axes, optional
    label, color : str, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from medai_lib.evaluation import pr_curve
    >>> ax = plot_pr(pr_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]))
    """
    from medai_lib.evaluation.roc import PrCurve

    if not isinstance(pr, PrCurve):
        raise TypeError(f"pr must be a PrCurve from medai_lib.evaluation.pr_curve; got {type(pr).__name__}.")
    ax = _axes(ax)
    color = _series_color(ax, color)
    name = f"{label}: " if label else ""
    ax.step(pr.recall, pr.precision, where="pre", color=color, linewidth=2,
            label=f"{name}AP {pr.average_precision:.3f}")
    ax.axhline(pr.prevalence, linestyle=":", color=REFERENCE_COLOR, label=f"prevalence {pr.prevalence:.2f}")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="Recall (sensitivity)", ylabel="Precision (PPV)")
    ax.legend(loc="lower left", fontsize="small")
    _describe(ax, f"Precision-recall curve, average precision {pr.average_precision:.3f}; the dotted line "
                  f"is the prevalence ({pr.prevalence:.2f}), the precision of calling everyone positive.")
    return ax


def plot_calibration(
    calibration,
    *,
    ax: "Axes | None" = None,
    label: str | None = None,
    color: str | None = None,
    show_ci: bool = True,
) -> "Axes":
    """Reliability diagram: observed frequency against mean predicted risk per bin, with Wilson intervals.

    Parameters
    ----------
    calibration : pandas.DataFrame or CalibrationSummary
        From ``reliability_curve`` or ``calibration_summary``.
    ax : matplotlib Axes, optional
    label, color : str, optional
    show_ci : bool, default True

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from medai_lib.evaluation import reliability_curve
    >>> ax = plot_calibration(reliability_curve([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2))
    """
    curve = getattr(calibration, "curve", calibration)
    needed = {"mean_predicted", "observed", "ci_low", "ci_high", "n"}
    if not isinstance(curve, pd.DataFrame) or not needed <= set(curve.columns):
        raise TypeError(
            "calibration must be the DataFrame from reliability_curve(...) or a CalibrationSummary; "
            f"got {type(calibration).__name__}."
        )
    ax = _axes(ax)
    color = _series_color(ax, color)
    first = _first_time(ax, "perfect calibration")
    if first:
        ax.plot([0, 1], [0, 1], linestyle=":", color=REFERENCE_COLOR, label="perfect calibration")
    fit = getattr(calibration, "fit", None)
    if fit is not None and not first:
        # Several curves on one Axes: their statistics go in the legend, not in overlapping text boxes.
        label = f"{label or 'model'} (slope {fit.slope:.2f}, ECE {calibration.ece:.3f})"
    x, y = curve["mean_predicted"].to_numpy(), curve["observed"].to_numpy()
    if show_ci:
        yerr = np.vstack([y - curve["ci_low"].to_numpy(), curve["ci_high"].to_numpy() - y])
        ax.errorbar(x, y, yerr=np.clip(yerr, 0, None), fmt="o-", color=color, capsize=3, label=label or "model")
    else:
        ax.plot(x, y, "o-", color=color, label=label or "model")
    text = "Reliability diagram: observed frequency of disease against mean predicted risk in each bin"
    if fit is not None and first:
        ax.text(0.03, 0.97, (f"{label}: " if label else "") + f"slope {fit.slope:.2f}, intercept {fit.intercept:.2f}\n"
                            f"Brier {calibration.brier:.3f}, ECE {calibration.ece:.3f}",
                transform=ax.transAxes, va="top", fontsize="small")
    if fit is not None:
        text += (f"; calibration slope {fit.slope:.2f}, intercept {fit.intercept:.2f}, "
                 f"Brier score {calibration.brier:.3f}")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal",
           xlabel="Predicted risk", ylabel="Observed frequency")
    ax.legend(loc="lower right", fontsize="small")
    _describe(ax, text + ". Points on the dotted diagonal are perfectly calibrated; bars are "
                         "confidence intervals.")
    return ax


def plot_decision_curve(
    decision_curve: pd.DataFrame,
    *,
    ax: "Axes | None" = None,
    label: str | None = None,
    color: str | None = None,
) -> "Axes":
    """Net benefit of the model against treat-all and treat-none over threshold probabilities.

    Parameters
    ----------
    decision_curve : pandas.DataFrame
        From ``medai_lib.evaluation.decision_curve``.
    ax : matplotlib Axes, optional
    label, color : str, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from medai_lib.evaluation import decision_curve
    >>> ax = plot_decision_curve(decision_curve([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1]))
    """
    needed = {"threshold", "net_benefit_model", "net_benefit_all", "net_benefit_none"}
    if not isinstance(decision_curve, pd.DataFrame) or not needed <= set(decision_curve.columns):
        raise TypeError("decision_curve must be the DataFrame from medai_lib.evaluation.decision_curve(...).")
    ax = _axes(ax)
    d = decision_curve
    ax.plot(d["threshold"], d["net_benefit_model"], color=_series_color(ax, color), linewidth=2,
            label=label or "model")
    if _first_time(ax, "treat all"):
        ax.plot(d["threshold"], d["net_benefit_all"], color=REFERENCE_COLOR, linestyle="--", label="treat all")
        ax.plot(d["threshold"], d["net_benefit_none"], color=OKABE_ITO["black"], linestyle=":", label="treat none")
    top = float(max(d["net_benefit_model"].max(), d["net_benefit_all"].max(), 0.01))
    ax.set(ylim=(-0.1 * top - 0.01, 1.1 * top), xlim=(0, float(d["threshold"].max())),
           xlabel="Threshold probability", ylabel="Net benefit")
    ax.legend(loc="upper right", fontsize="small")
    _describe(ax, "Decision curve: net benefit of acting on the model (solid), of treating everyone (dashed) "
                  "and of treating no one (dotted, zero) at each threshold probability. The model is useful "
                  "where its curve lies above both.")
    return ax


def plot_confusion_table(table, *, ax: "Axes | None" = None) -> "Axes":
    """The 2x2 table as a labelled grid (truth in rows, test result in columns).

    Parameters
    ----------
    table : medai_lib.evaluation.ConfusionTable
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from medai_lib.evaluation import ConfusionTable
    >>> ax = plot_confusion_table(ConfusionTable(tp=9, fp=50, fn=1, tn=940))
    """
    from medai_lib.evaluation.threshold import ConfusionTable

    if not isinstance(table, ConfusionTable):
        raise TypeError(f"table must be a ConfusionTable; got {type(table).__name__}.")
    ax = _axes(ax)
    # correct cells in blue, errors in orange: distinguishable without red-green vision
    cells = [((0, 1), "TP", table.tp, OKABE_ITO["sky_blue"]), ((1, 1), "FN", table.fn, OKABE_ITO["orange"]),
             ((0, 0), "FP", table.fp, OKABE_ITO["orange"]), ((1, 0), "TN", table.tn, OKABE_ITO["sky_blue"])]
    from matplotlib.patches import Rectangle

    for (col, row), name, count, colour in cells:
        ax.add_patch(Rectangle((col, row), 1, 1, facecolor=colour, edgecolor="white", linewidth=3, alpha=0.6))
        ax.text(col + 0.5, row + 0.5, f"{name}\n{count}", ha="center", va="center", fontsize="large")
    ax.set(xlim=(0, 2), ylim=(0, 2), xticks=[0.5, 1.5], yticks=[0.5, 1.5], aspect="equal")
    ax.set_xticklabels(["Test positive", "Test negative"])
    ax.set_yticklabels(["Disease absent", "Disease present"])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    _describe(ax, f"2x2 table: {table.tp} true positives, {table.fn} false negatives, {table.fp} false "
                  f"positives, {table.tn} true negatives; correct results in blue, errors in orange.")
    return ax


def plot_distribution_by_group(
    df: pd.DataFrame,
    column: str,
    by: str | None = None,
    *,
    ax: "Axes | None" = None,
    kind: str = "hist",
    bins: int = 30,
) -> "Axes":
    """Distribution of a numeric column, overall or per group (overlaid histograms or box plots).

    Parameters
    ----------
    df : pandas.DataFrame
    column : str
        A numeric column; missing values are left out (and counted in the caption).
    by : str, optional
        A grouping column (categorical, text or a few distinct values).
    ax : matplotlib Axes, optional
    kind : {"hist", "box"}, default "hist"
    bins : int, default 30

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> df = pd.DataFrame({"age": [30, 40, 50, 60], "sex": ["F", "M", "F", "M"]})
    >>> ax = plot_distribution_by_group(df, "age", "sex")
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame; got {type(df).__name__}.")
    for arg, name in (("column", column), ("by", by)):
        if name is not None and name not in df.columns:
            raise MedaiInputError(f"{arg}={name!r} is not a column of df; choose one of {list(df.columns)}.")
    if not pd.api.types.is_numeric_dtype(df[column]) or pd.api.types.is_bool_dtype(df[column]):
        raise MedaiInputError(f"column={column!r} must be numeric to plot its distribution; got {df[column].dtype}.")
    if kind not in ("hist", "box"):
        raise MedaiInputError(f"kind must be 'hist' or 'box'; got {kind!r}.")
    ax = _axes(ax)
    values = df[column]
    n_missing = int(values.isna().sum())
    if by is None:
        groups = [("all", values.dropna().to_numpy())]
    else:
        keys = df[by].astype("object").where(df[by].notna(), "(missing)").astype(str)
        groups = [(str(k), values[keys == k].dropna().to_numpy()) for k in sorted(keys.unique())]
    groups = [(k, v) for k, v in groups if v.size]
    if not groups:
        raise MedaiInputError(f"column={column!r} has no non-missing values to plot.")
    finite = np.concatenate([v for _, v in groups])
    edges = np.histogram_bin_edges(finite, bins=bins)
    if kind == "hist":
        for i, (key, v) in enumerate(groups):
            ax.hist(v, bins=edges, histtype="stepfilled", alpha=0.35, color=PALETTE[i % len(PALETTE)],
                    edgecolor=PALETTE[i % len(PALETTE)], linewidth=1.5, label=f"{key} (n={v.size})")
        ax.set(xlabel=column, ylabel="Number of patients")
        if by is not None:
            ax.legend(title=by, fontsize="small")
    else:
        parts = ax.boxplot([v for _, v in groups], patch_artist=True, orientation="horizontal")
        for i, box in enumerate(parts["boxes"]):
            box.set_facecolor(PALETTE[i % len(PALETTE)])
            box.set_alpha(0.6)
        ax.set_yticks(range(1, len(groups) + 1), [f"{k} (n={v.size})" for k, v in groups])
        ax.set(xlabel=column, ylabel=by or "")
    summary = "; ".join(f"{k}: median {np.median(v):.3g} (n={v.size})" for k, v in groups)
    shape = "Histograms" if kind == "hist" else "Box plots"
    _describe(ax, f"{shape} of {column}" + (f" by {by}" if by else "") + f". {summary}."
                  + (f" {n_missing} missing value(s) left out." if n_missing else ""))
    ax.medai_groups = [k for k, _ in groups]
    return ax
