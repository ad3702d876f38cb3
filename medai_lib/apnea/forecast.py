"""Forecasting respiratory events: is there an event in the next N minutes?

A model on the current minute (stage, body position, recent events, SpO2 and flow) is compared with the
persistence baseline (the event rate of the last minutes) on the same minutes with a paired AUC test.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

#: Predictors of the forecasting model (built by :func:`make_forecast_table`).
FORECAST_FEATURES = ("persistence", "rate_30min", "rate_so_far", "label_now", "minutes_since_event", "rem", "n3",
                     "wake", "supine", "spo2_drop", "flow_below_70", "hour_of_night")
_NEEDED = ("subject_id", "minute", "label", "stage", "position", "spo2_drop", "flow_below_70")


def make_forecast_table(table: pd.DataFrame, *, horizon_min: int = 5, history_min: int = 10) -> pd.DataFrame:
    """One row per minute t: predictors known at the end of t and the target "event in t+1 ... t+horizon".

    Parameters
    ----------
    table : DataFrame
        Per-minute table of :func:`medai_lib.apnea.make_minute_dataset` (``subject_id, minute, label, stage,
        position, spo2_drop, flow_below_70``), minutes in order within each subject.
    horizon_min : int, default 5
        Forecast horizon N in minutes.
    history_min : int, default 10
        Minutes of history for the persistence baseline (share of event minutes in the last N minutes).

    Returns
    -------
    DataFrame
        ``subject_id, minute, target`` and :data:`FORECAST_FEATURES`; minutes without a full history or
        horizon are dropped.

    Examples
    --------
    >>> t = pd.DataFrame({"subject_id": "a", "minute": range(30), "label": [0, 1] * 15, "stage": "N2",
    ...                   "position": 0, "spo2_drop": 1.0, "flow_below_70": 0.0})
    >>> make_forecast_table(t, horizon_min=5, history_min=10).shape[0]
    16
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a DataFrame (dataset.table); got {type(table).__name__}.")
    missing = [c for c in _NEEDED if c not in table.columns]
    if missing:
        raise MedaiInputError(f"table is missing columns {missing}; pass dataset.table from make_minute_dataset.")
    for name, v in (("horizon_min", horizon_min), ("history_min", history_min)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise MedaiInputError(f"{name} must be a positive whole number of minutes; got {v!r}.")
    out = []
    for sid, g in table.groupby("subject_id", sort=False):
        if not (np.diff(g["minute"].to_numpy()) == 1).all():
            raise MedaiInputError(f"minutes of subject {sid!r} are not consecutive and in order; sort the table "
                                  "by subject_id and minute.")
        lab = g["label"].to_numpy().astype(float)
        n = len(lab)
        c = np.r_[0.0, np.cumsum(lab)]
        t = np.arange(history_min - 1, n - horizon_min)
        if len(t) == 0:
            continue
        future = (c[t + 1 + horizon_min] - c[t + 1]) > 0
        persistence = (c[t + 1] - c[t + 1 - history_min]) / history_min
        # longer memory: the share of event minutes in the last 30 minutes and since lights off
        w30 = np.minimum(t + 1, 30)
        rate_30 = (c[t + 1] - c[t + 1 - w30]) / w30
        rate_all = c[t + 1] / (t + 1)
        last = np.where(lab > 0, np.arange(n), -10**6)
        last = np.maximum.accumulate(last)
        since = np.minimum(np.arange(n) - last, 60)[t]
        stage = g["stage"].to_numpy().astype(str)[t]
        out.append(pd.DataFrame({
            "subject_id": sid, "minute": g["minute"].to_numpy()[t], "target": future.astype(int),
            "persistence": persistence, "rate_30min": rate_30, "rate_so_far": rate_all, "label_now": lab[t], "minutes_since_event": since.astype(float),
            "rem": (stage == "R").astype(float), "n3": (stage == "N3").astype(float),
            "wake": (stage == "W").astype(float), "supine": (g["position"].to_numpy()[t] == 0).astype(float),
            "spo2_drop": g["spo2_drop"].to_numpy()[t], "flow_below_70": g["flow_below_70"].to_numpy()[t],
            "hour_of_night": g["minute"].to_numpy()[t] / 60.0,
        }))
    if not out:
        raise MedaiInputError("no subject has enough minutes for this history and horizon; use shorter ones.")
    return pd.concat(out, ignore_index=True)


def fit_forecaster(forecast_table: pd.DataFrame, *, random_state=0):
    """Logistic regression on :data:`FORECAST_FEATURES` (standardised), fitted on training subjects.

    Returns
    -------
    fitted scikit-learn pipeline (``predict_proba``)
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _check_forecast_table(forecast_table)
    y = forecast_table["target"].to_numpy()
    if y.min() == y.max():
        raise MedaiInputError("forecast_table holds a single class; add subjects with and without events.")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=random_state))
    return model.fit(forecast_table[list(FORECAST_FEATURES)], y)


def _check_forecast_table(ft) -> None:
    if not isinstance(ft, pd.DataFrame) or not set(FORECAST_FEATURES) | {"target"} <= set(ft.columns):
        raise MedaiInputError("forecast_table must come from make_forecast_table (columns target and "
                              f"{list(FORECAST_FEATURES)}).")


@dataclass(frozen=True)
class ForecastResult:
    """Model versus persistence on the same test minutes.

    ``comparison`` is :class:`medai_lib.evaluation.AucComparison` with ``difference = auc_model -
    auc_persistence`` (DeLong, minutes treated as independent); ``subject_ci`` is the 95% interval of the
    difference when subjects, not minutes, are resampled (wider and more honest with few subjects);
    ``scores`` holds ``subject_id, minute, target, model, persistence`` per test minute.
    """

    auc_model: float
    auc_persistence: float
    comparison: object
    scores: pd.DataFrame
    horizon_min: int
    subject_ci: "tuple[float, float] | None" = None

    @property
    def beats_persistence(self) -> bool:
        """True when the lower end of the paired interval of the AUC difference is above zero: the
        subject-resampled interval when there is one (minutes of one night are not independent), else
        DeLong's."""
        low = self.subject_ci[0] if self.subject_ci is not None else self.comparison.ci_low
        return bool(low > 0)

    def summary(self) -> str:
        """Three lines: the AUCs and their difference, its intervals (patients resampled and DeLong), a verdict."""
        cmp = self.comparison
        n = self.scores["subject_id"].nunique()
        lines = [f"AUC on {n} test patients: model {self.auc_model:.3f}, persistence {self.auc_persistence:.3f}, "
                 f"difference {cmp.difference:+.3f}"]
        delong = f"{cmp.ci_low:+.3f} to {cmp.ci_high:+.3f}"
        if self.subject_ci is not None:
            low, high = self.subject_ci
            lines.append(f"95% CI of the difference: {low:+.3f} to {high:+.3f} resampling patients ({delong} if "
                         "minutes were independent, DeLong)")
        else:
            lines.append(f"95% CI of the difference: {delong} (DeLong, minutes treated as independent)")
        verdict = ("the model beats persistence" if self.beats_persistence
                   else "no difference shown: the interval includes zero")
        return "\n".join(lines + [f"Verdict: {verdict}"])


def evaluate_forecast(model, test_table: pd.DataFrame, *, horizon_min: "int | None" = None,
                      method: str = "delong", n_bootstrap: int = 0, random_state=0) -> ForecastResult:
    """Score test minutes with ``model`` and with persistence, and compare the AUCs (paired).

    Minutes of one subject are correlated, so the DeLong interval is optimistic with few subjects; with
    ``n_bootstrap > 0`` a paired bootstrap over subjects gives ``subject_ci`` as well.

    Examples
    --------
    >>> from medai_lib.apnea import make_sleep_cohort
    >>> from medai_lib.apnea.features import make_minute_dataset
    >>> ds = make_minute_dataset(make_sleep_cohort(4, hours=1.0, random_state=3))
    >>> ft = make_forecast_table(ds.table)
    >>> res = evaluate_forecast(fit_forecaster(ft), ft)
    >>> 0.5 < res.auc_model <= 1
    True
    """
    from medai_lib.evaluation import compare_aucs

    _check_forecast_table(test_table)
    p = model.predict_proba(test_table[list(FORECAST_FEATURES)])[:, 1]
    y = test_table["target"].to_numpy()
    cmp = compare_aucs(y, p, test_table["persistence"].to_numpy(), method=method, random_state=random_state)
    scores = test_table[["subject_id", "minute", "target"]].assign(model=p, persistence=test_table["persistence"])
    scores = scores.reset_index(drop=True)
    subject_ci = _subject_ci(scores, int(n_bootstrap), random_state) if n_bootstrap else None
    return ForecastResult(auc_model=float(cmp.auc_a), auc_persistence=float(cmp.auc_b), comparison=cmp,
                          scores=scores, horizon_min=int(horizon_min or 0), subject_ci=subject_ci)


def _subject_ci(scores: pd.DataFrame, n_bootstrap: int, random_state) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    subjects, inv = np.unique(scores["subject_id"].to_numpy(), return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(len(subjects))]
    y, a, b = (scores[c].to_numpy() for c in ("target", "model", "persistence"))
    diffs = []
    for _ in range(n_bootstrap):
        idx = np.concatenate([members[k] for k in rng.randint(0, len(subjects), len(subjects))])
        if y[idx].min() == y[idx].max():
            continue
        diffs.append(roc_auc_score(y[idx], a[idx]) - roc_auc_score(y[idx], b[idx]))
    lo, hi = np.quantile(diffs, [0.025, 0.975]) if diffs else (np.nan, np.nan)
    return float(lo), float(hi)


__all__ = ["FORECAST_FEATURES", "ForecastResult", "evaluate_forecast", "fit_forecaster", "make_forecast_table"]
