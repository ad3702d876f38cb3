"""Monitoring a deployed model: dataset shift detected from its inputs and outputs before labels arrive,
and calibration checked (and repaired) once they do.

Inputs: one two-sample Kolmogorov-Smirnov test per feature against the development data, Bonferroni-
corrected, as in Rabanser et al., "Failing loudly", NeurIPS 2019. Outputs: the same test on the model's
predicted risks. Each batch (a week, a month of cases) is tested separately; on an unshifted site about
``alpha`` of batches raise a false alarm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from medai_lib.errors import MedaiInputError
from medai_lib.evaluation._validation import check_scores


def _as_frame(x, name: str) -> pd.DataFrame:
    if isinstance(x, pd.DataFrame):
        df = x
    else:
        arr = np.asarray(x, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise MedaiInputError(f"{name} must be a table of features (cases x features); got shape {arr.shape}.")
        df = pd.DataFrame(arr, columns=[f"feature_{i}" for i in range(arr.shape[1])])
    if len(df) < 2:
        raise MedaiInputError(f"{name} has {len(df)} case(s); a shift test needs at least 2 per batch.")
    num = df.select_dtypes("number")
    if num.shape[1] != df.shape[1]:
        raise MedaiInputError(f"{name} has non-numeric columns {list(df.columns.difference(num.columns))}; "
                              "encode them as numbers or leave them out.")
    if not np.all(np.isfinite(num.to_numpy(dtype=float))):
        raise MedaiInputError(f"{name} has missing or infinite values; impute or drop them before monitoring.")
    return num


@dataclass(frozen=True, eq=False)
class ShiftTest:
    """Result of :func:`detect_shift`.

    Attributes
    ----------
    features : DataFrame
        Per feature: KS ``statistic``, raw ``p_value``, and the standardised mean difference ``smd``.
    p_value : float
        Bonferroni-adjusted smallest p-value (the test of "any feature shifted").
    shifted : bool
        ``p_value < alpha``.
    alpha : float
    """

    features: pd.DataFrame
    p_value: float
    shifted: bool
    alpha: float


def detect_shift(reference, batch, *, alpha: float = 0.05) -> ShiftTest:
    """Has ``batch`` shifted from ``reference``? Per-feature KS tests with a Bonferroni correction.

    Parameters
    ----------
    reference : DataFrame or array_like, shape (n_reference, n_features)
        Development-time inputs (or predicted risks, one column) the model was validated on.
    batch : same columns, shape (n_batch, n_features)
        A batch of new, unlabelled cases.
    alpha : float, default 0.05
        Family-wise false-alarm rate per batch.

    Returns
    -------
    ShiftTest

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> detect_shift(rng.normal(size=(500, 3)), rng.normal(0.5, 1, size=(100, 3))).shifted
    True
    """
    ref = _as_frame(reference, "reference")
    new = _as_frame(batch, "batch")
    if list(ref.columns) != list(new.columns):
        raise MedaiInputError(f"batch columns {list(new.columns)} differ from reference columns {list(ref.columns)}; "
                              "pass the same features in the same order.")
    if not 0 < alpha < 1:
        raise MedaiInputError(f"alpha must be between 0 and 1 such as 0.05; got {alpha!r}.")
    rows = []
    for col in ref.columns:
        a, b = ref[col].to_numpy(float), new[col].to_numpy(float)
        res = stats.ks_2samp(a, b, method="asymp")
        sd = a.std(ddof=1)
        rows.append({"feature": col, "statistic": float(res.statistic), "p_value": float(res.pvalue),
                     "smd": float((b.mean() - a.mean()) / sd) if sd > 0 else np.nan})
    table = pd.DataFrame(rows).set_index("feature")
    adjusted = float(min(1.0, table["p_value"].min() * len(table)))
    return ShiftTest(features=table, p_value=adjusted, shifted=adjusted < alpha, alpha=float(alpha))


def monitor_batches(reference_inputs, reference_risk, inputs, risk, batch, *, y_true=None, threshold: float = 0.5,
                    alpha: float = 0.05, reference_strata=None, strata=None) -> pd.DataFrame:
    """One row per batch of deployed cases: input and output shift tests, and calibration where labels exist.

    Parameters
    ----------
    reference_inputs : DataFrame or array_like, shape (n_reference, n_features)
    reference_risk : array_like, shape (n_reference,)
        The model's risks on the development (validation) cases.
    inputs : same columns as ``reference_inputs``, shape (n_cases, n_features)
    risk : array_like, shape (n_cases,)
    batch : array_like, shape (n_cases,)
        Batch of each case (week number, month); batches are reported in sorted order.
    y_true : array_like of 0/1 or NaN, shape (n_cases,), optional
        Outcomes where known (NaN for cases still without a label).
    threshold : float, default 0.5
        Risk at or above which a case is flagged (share flagged per batch).
    reference_strata, strata : array_like, optional
        A stratum for each reference and each new case (e.g. the site or scanner, known from the image header).
        Each batch is then compared stratum by stratum with the development cases of the same stratum
        (Bonferroni over strata): a shift in who is imaged where can leave the pooled inputs unchanged and
        still change each site's inputs.
    alpha : float, default 0.05
        False-alarm rate per batch for the two tests together: each (inputs, outputs) is run at
        ``alpha / 2`` (Bonferroni), so an unshifted site raises an alarm in about ``alpha`` of its batches
        or fewer (on average over development samples; one fixed development sample can give a little more
        or less).

    Returns
    -------
    DataFrame
        ``batch, n, input_p, input_alarm, output_p, output_alarm, mean_risk, flagged_share, n_labelled,
        observed_rate`` (NaN without labels) and ``alarm`` (input or output alarm).
    """
    ref_in = _as_frame(reference_inputs, "reference_inputs")
    ref_risk = check_scores(reference_risk, "reference_risk", probability=True)
    new_in = _as_frame(inputs, "inputs")
    new_risk = check_scores(risk, "risk", probability=True)
    batch = np.asarray(batch)
    if not (len(new_in) == new_risk.size == batch.size):
        raise MedaiInputError(f"inputs ({len(new_in)} rows), risk ({new_risk.size}) and batch ({batch.size}) must "
                              "describe the same cases.")
    y = None
    if y_true is not None:
        y = np.asarray(y_true, dtype=float)
        if y.size != batch.size:
            raise MedaiInputError(f"y_true has {y.size} values for {batch.size} cases.")
    if (reference_strata is None) != (strata is None):
        raise MedaiInputError("give both reference_strata and strata (the stratum of each reference and each new "
                              "case), or neither.")
    ref_s = np.zeros(len(ref_in), dtype=object) if strata is None else np.asarray(reference_strata, dtype=object)
    new_s = np.zeros(batch.size, dtype=object) if strata is None else np.asarray(strata, dtype=object)
    if ref_s.size != len(ref_in) or new_s.size != batch.size:
        raise MedaiInputError(f"reference_strata ({ref_s.size}) and strata ({new_s.size}) must have one value per "
                              f"reference case ({len(ref_in)}) and per new case ({batch.size}).")
    rows = []
    for b in sorted(pd.unique(batch)):
        m = batch == b
        p_in, p_out = [], []
        for s in pd.unique(new_s[m]):
            ms, rs = m & (new_s == s), ref_s == s
            if ms.sum() < 2 or rs.sum() < 2:
                raise MedaiInputError(f"stratum {s!r} has {int(rs.sum())} reference case(s) and {int(ms.sum())} "
                                      f"case(s) in batch {b!r}; each needs at least 2 (use larger batches or "
                                      "merge strata).")
            p_in.append(detect_shift(ref_in[rs], new_in[ms]).p_value)
            p_out.append(detect_shift(ref_risk[rs], new_risk[ms]).p_value)
        input_p = min(1.0, min(p_in) * len(p_in))
        output_p = min(1.0, min(p_out) * len(p_out))
        row = {"batch": b, "n": int(m.sum()), "input_p": input_p, "input_alarm": input_p < alpha / 2,
               "output_p": output_p, "output_alarm": output_p < alpha / 2, "mean_risk": float(new_risk[m].mean()),
               "flagged_share": float((new_risk[m] >= threshold).mean())}
        labelled = m & np.isfinite(y) if y is not None else np.zeros_like(m)
        row["n_labelled"] = int(labelled.sum())
        row["observed_rate"] = float(y[labelled].mean()) if labelled.any() else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    out["alarm"] = out["input_alarm"] | out["output_alarm"]
    return out


def false_alarm_rate(table: pd.DataFrame, *, column: str = "alarm") -> float:
    """Share of batches that raised an alarm: on an unshifted site, the false-alarm rate."""
    if column not in table:
        raise MedaiInputError(f"table has no column {column!r}; pass the output of monitor_batches.")
    return float(table[column].mean())


def plot_monitoring(table: pd.DataFrame, *, shift_starts=None, alpha: float = 0.05, axes=None):
    """Two panels over batches: shift-test p-values (log scale, alarm line at alpha / 2) and mean predicted risk
    next to the observed rate where labels exist. ``shift_starts``: batch where a change is known to start.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True, layout="constrained")
    top, bottom = axes
    x = table["batch"].to_numpy()
    floor = 1e-12
    top.semilogy(x, np.maximum(table["input_p"], floor), "o-", color="#0072B2", label="inputs (KS, Bonferroni)")
    top.semilogy(x, np.maximum(table["output_p"], floor), "s--", color="#E69F00", label="predicted risks (KS)")
    alarms = table["alarm"].to_numpy(bool)
    top.scatter(x[alarms], np.full(alarms.sum(), 1.5), marker="v", color="#D55E00", label="alarm", zorder=3,
                clip_on=False)
    top.axhline(alpha / 2, color="0.4", ls=":", label=f"alarm line (p = {alpha / 2:g})")
    lowest = float(np.nanmin(np.maximum(np.r_[table["input_p"], table["output_p"]], floor)))
    top.set(ylabel="p-value (lower = more shifted)", ylim=(min(1e-3, lowest / 10), 3))
    top.legend(fontsize="x-small", loc="lower left")
    bottom.plot(x, table["mean_risk"], "o-", color="#0072B2", label="mean predicted risk")
    if table["observed_rate"].notna().any():
        bottom.plot(x, table["observed_rate"], "D:", color="#009E73", label="observed rate (labelled cases)")
    bottom.set(xlabel="batch", ylabel="risk / rate")
    bottom.legend(fontsize="x-small")
    if shift_starts is not None:
        for ax in axes:
            ax.axvline(shift_starts - 0.5, color="#CC79A7", lw=1.5, label=None)
        top.text(shift_starts - 0.4, top.get_ylim()[0] * 3, "change starts", color="#CC79A7", fontsize="small")
    return axes
