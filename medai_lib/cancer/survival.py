"""Cancer-free survival by age (lifelines): Kaplan-Meier curves by PRS group, a Cox model of PRS and
covariates, concordance with a bootstrap interval, and absolute risk by a given age or over 10 years.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medai_lib.cancer.risk import covariate_matrix
from medai_lib.errors import MedaiInputError

SURVIVAL_COVARIATES = ("sex", "smoking", "family_history")


@contextlib.contextmanager
def _quiet_lifelines():
    # lifelines 0.30 calls pandas reductions positionally, which pandas 3 flags for pandas 4; the results are
    # unaffected, and the warnings would land on a learner's screen (and zero a graded cell) for nothing.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pandas version 4.0.*")
        warnings.filterwarnings("ignore", category=FutureWarning, module="lifelines")
        yield


def check_survival(time, event, *, time_name: str = "time", event_name: str = "event"):
    """Validate survival data: times finite and >= 0, events coded 0/1. Returns float arrays.

    Examples
    --------
    >>> from medai_lib.cancer.survival import check_survival
    >>> check_survival([50.0, 61.2], [1, 0])[1].tolist()
    [1.0, 0.0]
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event)
    if e.dtype == bool:
        e = e.astype(float)
    if t.ndim != 1 or e.shape != t.shape:
        raise MedaiInputError(f"'{time_name}' and '{event_name}' must be 1-D of the same length; got "
                              f"{t.shape} and {e.shape}.")
    if not np.isfinite(t).all() or np.any(t < 0):
        bad = np.flatnonzero(~np.isfinite(t) | (t < 0))
        raise MedaiInputError(
            f"'{time_name}' must be finite and >= 0 (age or years of follow-up); {len(bad)} value(s) "
            "are not, "
            f"e.g. row {bad[0]}: {t[bad[0]]!r}. Fix the dates or drop those rows."
        )
    try:
        e = e.astype(float)
    except (TypeError, ValueError):
        raise MedaiInputError(f"'{event_name}' must be 0/1 (1 = cancer diagnosed, 0 = censored); "
                              f"got values like {np.unique(e.astype(str))[:5].tolist()}.") from None
    if not np.isin(e, (0.0, 1.0)).all():
        raise MedaiInputError(
            f"'{event_name}' must be 0/1 (1 = cancer diagnosed, 0 = censored); got values "
            f"{np.unique(e)[:5].tolist()}. Recode it, e.g. event = (status == 'diagnosed')."
        )
    return t, e


def prs_groups(prs, *, cuts=(0.2, 0.8), labels=("low (bottom 20%)", "middle", "high (top 20%)"),
               reference=None) -> pd.Categorical:
    """Label people by PRS percentile (cut points from ``reference``, default the scores themselves).

    Returns an ordered ``pandas.Categorical`` (low to high), so tables and curves keep that order.

    Examples
    --------
    >>> from medai_lib.cancer.survival import prs_groups
    >>> prs_groups([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).tolist()[:3]
    ['low (bottom 20%)', 'low (bottom 20%)', 'middle']
    """
    prs = np.asarray(prs, dtype=float)
    if len(labels) != len(cuts) + 1:
        raise MedaiInputError(f"'labels' needs {len(cuts) + 1} names for {len(cuts)} cut points.")
    ref = prs if reference is None else np.asarray(reference, dtype=float)
    edges = np.quantile(ref, cuts)
    return pd.Categorical.from_codes(np.searchsorted(edges, prs, side="right"), categories=list(labels),
                                     ordered=True)


def kaplan_meier_by_group(time, event, groups) -> dict:
    """Kaplan-Meier estimates per group (lifelines ``KaplanMeierFitter``).

    Parameters
    ----------
    time : array_like, shape (n,)
        Age at diagnosis or at censoring.
    event : array_like of 0/1, shape (n,)
    groups : array_like, shape (n,)

    Returns
    -------
    dict of str -> KaplanMeierFitter

    Examples
    --------
    >>> from medai_lib.cancer.survival import kaplan_meier_by_group
    >>> km = kaplan_meier_by_group([50, 60, 70, 55], [1, 0, 1, 0], ["a", "a", "b", "b"])
    >>> float(km["a"].survival_function_at_times(55).iloc[0])
    0.5
    """
    from lifelines import KaplanMeierFitter

    t, e = check_survival(time, event)
    dtype = getattr(groups, "dtype", None)
    order = [str(c) for c in dtype.categories] if isinstance(dtype, pd.CategoricalDtype) else None
    groups = np.asarray(groups).astype(str)
    if groups.shape != t.shape:
        raise MedaiInputError(f"'groups' must have one label per person ({t.size}); got {groups.shape}.")
    out = {}
    for g in (order if order is not None else pd.unique(groups)):
        if not np.any(groups == g):
            continue
        m = groups == g
        with _quiet_lifelines():
            out[g] = KaplanMeierFitter(label=g).fit(t[m], e[m])
    return out


def plot_kaplan_meier(km: dict, *, ax=None, ylabel: str = "Cancer-free (%)", xlabel: str = "Age (years)",
                      at_risk=None, xlim=None):
    """Kaplan-Meier curves with 95% bands in Okabe-Ito colours and line styles; returns the Axes.

    ``at_risk`` (a list of ages) adds, under the plot, the numbers at risk and the events so far at those
    ages for each group (:func:`numbers_at_risk`; the KMunicate proposals, Morris et al., BMJ Open 2019):
    where few people remain, the end of a curve rests on few people. ``xlim`` sets the age range.

    Examples
    --------
    >>> from medai_lib.cancer.survival import kaplan_meier_by_group, plot_kaplan_meier
    >>> ax = plot_kaplan_meier(kaplan_meier_by_group([50, 60, 70, 55], [1, 0, 1, 0], ["a", "a", "b", "b"]))
    """
    from medai_lib.plotting import PALETTE, _axes, _describe

    ax = _axes(ax)
    styles = ["-", "--", ":", "-."]
    for k, (name, fit) in enumerate(km.items()):
        sf = fit.survival_function_ * 100
        ci = fit.confidence_interval_ * 100
        color = PALETTE[k % len(PALETTE)]
        ax.step(sf.index, sf.iloc[:, 0], where="post", color=color, linestyle=styles[k % 4], linewidth=2,
                label=f"{name} (n={int(fit.event_observed.size)})")
        ax.fill_between(ci.index, ci.iloc[:, 0], ci.iloc[:, 1], step="post", color=color, alpha=0.15)
    ax.set(xlabel=xlabel, ylabel=ylabel, ylim=(None, 100.5))
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.legend(loc="lower left", fontsize="small")
    if at_risk is not None:
        # lifelines' add_at_risk_counts fails under pandas 3 (it aggregates to arrays): the table is drawn
        # here from numbers_at_risk, with the ages as data x-positions and rows below the axis.
        import matplotlib.transforms as transforms

        table = numbers_at_risk(km, at_risk)
        trans = transforms.blended_transform_factory(ax.transData, ax.transAxes)
        y = -0.2
        for name in km:
            for row in ("at risk", "events so far"):
                ax.text(-0.06, y, f"{name}: {row}", transform=ax.transAxes, ha="right", va="top", fontsize=8)
                for age in table.columns:
                    ax.text(age, y, f"{int(table.loc[(name, row)][age]):,}", transform=trans, ha="center",
                            va="top", fontsize=8)
                y -= 0.06
            y -= 0.02
    _describe(ax, "Kaplan-Meier curves of the share still free of cancer by age, one line per group, with "
                  "95% confidence bands.")
    return ax


def numbers_at_risk(km: dict, ages) -> pd.DataFrame:
    """Numbers at risk (still followed and cancer-free at each age: time >= age) and events so far (diagnoses
    at or before the age) per group, from the data each Kaplan-Meier fit holds.

    Parameters
    ----------
    km : dict of str -> lifelines KaplanMeierFitter
        From :func:`kaplan_meier_by_group`.
    ages : sequence of float

    Returns
    -------
    DataFrame
        Index (group, "at risk" / "events so far"); one column per age.

    Examples
    --------
    >>> from medai_lib.cancer.survival import kaplan_meier_by_group, numbers_at_risk
    >>> km = kaplan_meier_by_group([50, 60, 70, 55], [1, 0, 1, 0], ["a", "a", "b", "b"])
    >>> numbers_at_risk(km, [55, 65]).loc[("a", "at risk")].tolist()
    [1, 0]
    """
    ages = [float(a) for a in ages]
    rows = {}
    for name, fit in km.items():
        t = np.asarray(fit.durations, dtype=float)
        e = np.asarray(fit.event_observed, dtype=bool)
        rows[(name, "at risk")] = [int(np.sum(t >= a)) for a in ages]
        rows[(name, "events so far")] = [int(np.sum(e & (t <= a))) for a in ages]
    return pd.DataFrame(list(rows.values()), columns=ages,
                        index=pd.MultiIndex.from_tuples(list(rows), names=["group", "count"]))


@dataclass(frozen=True)
class SurvivalModel:
    """A Cox proportional-hazards model with age as the time scale.

    Attributes
    ----------
    fitter : lifelines.CoxPHFitter
    columns : tuple of str
        Predictors (``"prs"`` first when used); the PRS is standardised with ``prs_mean``/``prs_sd``.
    prs_mean, prs_sd : float
    summary : DataFrame
        Hazard ratio per predictor with its 95% CI and p-value.
    """

    fitter: object
    columns: tuple
    prs_mean: float
    prs_sd: float
    summary: pd.DataFrame

    def _frame(self, samples: pd.DataFrame, prs) -> pd.DataFrame:
        clinical = [c for c in self.columns if c != "prs"]
        x = covariate_matrix(samples, columns=clinical) if clinical else pd.DataFrame(index=samples.index)
        if "prs" in self.columns:
            prs = np.asarray(prs, dtype=float)
            if prs.shape != (len(samples),):
                raise MedaiInputError(
                    f"'prs' must have one score per person ({len(samples)}); got {prs.shape}."
                )
            x.insert(0, "prs", (prs - self.prs_mean) / self.prs_sd)
        return x.reset_index(drop=True)

    def risk_score(self, samples: pd.DataFrame, *, prs=None) -> np.ndarray:
        """Linear predictor (log relative hazard), shape (n,): higher = earlier expected diagnosis."""
        with _quiet_lifelines():
            return self.fitter.predict_log_partial_hazard(self._frame(samples, prs)).to_numpy(dtype=float)

    def absolute_risk(self, samples: pd.DataFrame, *, prs=None, by_age: float | None = None,
                      from_age=None, years: float = 10.0) -> np.ndarray:
        """Probability of a cancer diagnosis, shape (n,).

        With ``by_age``: by that age, from birth. Otherwise over the next ``years`` for someone cancer-free
        at ``from_age`` (default the ``age`` column): 1 - S(from_age + years) / S(from_age).
        """
        x = self._frame(samples, prs)
        if by_age is not None:
            if not np.isfinite(by_age) or by_age <= 0:
                raise MedaiInputError(f"'by_age' must be a positive age in years; got {by_age!r}.")
            with _quiet_lifelines():
                s = self.fitter.predict_survival_function(x, times=[float(by_age)]).to_numpy()[0]
            return 1 - s
        start = samples["age"].to_numpy(dtype=float) if from_age is None else np.broadcast_to(
            np.asarray(from_age, dtype=float), (len(samples),))
        if years <= 0:
            raise MedaiInputError(f"'years' must be positive; got {years!r}.")
        times = np.unique(np.r_[start, start + years])
        with _quiet_lifelines():
            sf = self.fitter.predict_survival_function(x, times=times)
        idx = {t: i for i, t in enumerate(sf.index.to_numpy())}
        arr = sf.to_numpy()
        cols = np.arange(len(samples))
        s0 = arr[[idx[t] for t in start], cols]
        s1 = arr[[idx[t] for t in start + years], cols]
        return 1 - s1 / np.maximum(s0, 1e-12)


def fit_cox_model(samples: pd.DataFrame, *, time, event, prs=None, columns=SURVIVAL_COVARIATES,
                  penalizer: float = 0.0) -> SurvivalModel:
    """Fit a Cox model (lifelines ``CoxPHFitter``) of cancer diagnosis by age.

    Parameters
    ----------
    samples : DataFrame, n rows
        Clinical covariates (checked as in :func:`covariate_matrix`).
    time : array_like, shape (n,)
        Age at diagnosis or censoring (>= 0).
    event : array_like of 0/1, shape (n,)
    prs : array_like, shape (n,), optional
        Standardised inside: its hazard ratio is per standard deviation.
    columns : sequence of str, default ("sex", "smoking", "family_history")
        Age is the time scale, so it is not a covariate.
    penalizer : float, default 0.0

    Returns
    -------
    SurvivalModel

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from medai_lib.cancer.survival import fit_cox_model
    >>> rng = np.random.default_rng(0); s = pd.DataFrame({"smoking": rng.integers(0, 2, 300)})
    >>> t = rng.exponential(60 / np.exp(0.7 * s["smoking"])); e = (t < 80).astype(int)
    >>> m = fit_cox_model(s, time=np.minimum(t, 80), event=e, columns=("smoking",))
    >>> bool(1.3 < m.summary.loc["smoking", "hazard_ratio"] < 3.5)
    True
    """
    from lifelines import CoxPHFitter

    t, e = check_survival(time, event)
    if len(t) != len(samples):
        raise MedaiInputError(f"'time' has {len(t)} values for {len(samples)} rows of 'samples'.")
    if e.sum() < 5:
        raise MedaiInputError(f"only {int(e.sum())} events: a Cox model needs more diagnosed people.")
    columns = tuple(columns)
    names = (("prs",) if prs is not None else ()) + columns
    mean = sd = np.nan
    if prs is not None:
        p = np.asarray(prs, dtype=float)
        if p.shape != t.shape or not np.isfinite(p).all():
            raise MedaiInputError(f"'prs' must be finite with one score per person ({len(t)}).")
        mean, sd = float(p.mean()), float(p.std())
    model = SurvivalModel(fitter=None, columns=names, prs_mean=mean, prs_sd=sd, summary=pd.DataFrame())
    x = model._frame(samples, prs)
    x["_time"], x["_event"] = t, e
    with _quiet_lifelines():
        fitter = CoxPHFitter(penalizer=penalizer).fit(x, duration_col="_time", event_col="_event")
    s = fitter.summary
    summary = pd.DataFrame({
        "hazard_ratio": s["exp(coef)"], "ci_low": s["exp(coef) lower 95%"],
        "ci_high": s["exp(coef) upper 95%"], "p": s["p"],
    })
    summary.index.name = "predictor"
    return SurvivalModel(fitter=fitter, columns=names, prs_mean=mean, prs_sd=sd, summary=summary)


@dataclass(frozen=True)
class Concordance:
    """Harrell's C with a percentile bootstrap interval."""

    c_index: float
    ci_low: float
    ci_high: float
    n_bootstrap: int


def concordance(time, event, risk_score, *, n_bootstrap: int = 200, confidence: float = 0.95,
                random_state=0) -> Concordance:
    """Harrell's concordance of a risk score with survival (higher risk, earlier diagnosis), with a CI.

    Parameters
    ----------
    time, event : array_like, shape (n,)
    risk_score : array_like, shape (n,)
        Higher = higher risk (e.g. a Cox linear predictor or a PRS).
    n_bootstrap : int, default 200
    confidence : float, default 0.95
    random_state : int or Generator, default 0

    Returns
    -------
    Concordance

    Examples
    --------
    >>> from medai_lib.cancer.survival import concordance
    >>> concordance([50, 60, 70, 80], [1, 1, 1, 0], [4, 3, 2, 1], n_bootstrap=10).c_index
    1.0
    """
    from lifelines.utils import concordance_index

    t, e = check_survival(time, event)
    r = np.asarray(risk_score, dtype=float)
    if r.shape != t.shape or not np.isfinite(r).all():
        raise MedaiInputError(f"'risk_score' must be finite with one value per person ({t.size}).")
    if not 0 < confidence < 1:
        raise MedaiInputError(f"'confidence' must be in (0, 1); got {confidence!r}.")
    with _quiet_lifelines():
        c = float(concordance_index(t, -r, e))
    rng = np.random.default_rng(random_state)
    reps = []
    for _ in range(int(n_bootstrap)):
        i = rng.integers(0, t.size, t.size)
        if e[i].sum() > 0:
            reps.append(concordance_index(t[i], -r[i], e[i]))
    alpha = (1 - confidence) / 2
    lo, hi = (np.quantile(reps, [alpha, 1 - alpha]) if reps else (np.nan, np.nan))
    return Concordance(c_index=c, ci_low=float(lo), ci_high=float(hi), n_bootstrap=len(reps))


def bootstrap_cox_models(samples: pd.DataFrame, *, time, event, prs=None, columns=SURVIVAL_COVARIATES,
                         n_bootstrap: int = 30, random_state=0) -> list:
    """Cox models refitted on bootstrap resamples: their spread is the uncertainty of an absolute risk.

    Returns
    -------
    list of SurvivalModel

    Examples
    --------
    >>> from medai_lib.cancer.survival import bootstrap_cox_models
    >>> # models = bootstrap_cox_models(samples, time=t, event=e, prs=prs, n_bootstrap=30)
    """
    t, e = check_survival(time, event)
    rng = np.random.default_rng(random_state)
    samples = samples.reset_index(drop=True)
    prs = None if prs is None else np.asarray(prs, dtype=float)
    models = []
    for _ in range(int(n_bootstrap)):
        i = rng.integers(0, len(t), len(t))
        models.append(fit_cox_model(samples.iloc[i].reset_index(drop=True), time=t[i], event=e[i],
                                    prs=None if prs is None else prs[i], columns=columns, penalizer=0.01))
    return models


@dataclass(frozen=True)
class AverageRiskMultiple:
    """Where "``multiple`` times the average risk" falls on a score, for one clinical profile.

    Attributes
    ----------
    median_risk : float
        Risk over ``years`` at the median (50th percentile) score.
    average_risk : float
        Average of that risk over the population's scores: what "average risk" means.
    target_risk : float
        ``multiple * average_risk``.
    percentile : int or None
        First whole percentile (1 to 99) of the score at which the risk reaches ``target_risk``; None when it
        is not reached below the 99th.
    multiple, years, age : float
    """

    median_risk: float
    average_risk: float
    target_risk: float
    percentile: "int | None"
    multiple: float
    years: float
    age: float


def risk_at_multiple_of_average(model: "SurvivalModel", person: dict, population_prs, *, multiple: float = 1.5,
                                years: float = 10.0, age: float = 50.0) -> AverageRiskMultiple:
    """Translate "``multiple`` times the average risk" into absolute risks for one clinical profile.

    The average risk over a population is not the risk at its median score: absolute risk rises faster than
    linearly with the score (hazard ratios multiply), so the few people with the highest scores pull the
    average above the median person's risk. A report that says "1.5 times average" compares with the
    average.

    Parameters
    ----------
    model : SurvivalModel
        With a PRS term.
    person : dict
        Clinical covariates of the profile (e.g. ``{"sex": "female", "smoking": 0, "family_history": 0}``).
    population_prs : array_like, shape (n,)
        Scores of the reference population (the same genetic ancestry group).
    multiple : float, default 1.5
    years : float, default 10
        Risk over the next ``years`` for someone cancer-free at ``age``.
    age : float, default 50

    Returns
    -------
    AverageRiskMultiple

    Examples
    --------
    >>> # pos = risk_at_multiple_of_average(cox, {"sex": "female", "smoking": 0, "family_history": 0},
    >>> #                                   cohort["prs"], multiple=1.5); pos.average_risk > pos.median_risk
    """
    if "prs" not in model.columns:
        raise MedaiInputError("'model' has no PRS term: fit it with prs= to place a risk on the score.")
    if not multiple > 0:
        raise MedaiInputError(f"'multiple' must be positive; got {multiple!r}.")
    prs = np.asarray(population_prs, dtype=float)
    if prs.ndim != 1 or prs.size < 2 or not np.isfinite(prs).all():
        raise MedaiInputError("'population_prs' must be a 1-D array of finite scores (at least two).")
    grid = np.arange(1, 100)
    profile = {**person, "age": float(age)}
    everyone = pd.DataFrame([profile] * prs.size)
    average = float(np.mean(model.absolute_risk(everyone, prs=prs, years=years)))
    on_grid = model.absolute_risk(pd.DataFrame([profile] * grid.size), prs=np.percentile(prs, grid), years=years)
    median = float(model.absolute_risk(pd.DataFrame([profile]), prs=[np.median(prs)], years=years)[0])
    target = multiple * average
    reached = np.flatnonzero(on_grid >= target)
    return AverageRiskMultiple(median_risk=median, average_risk=average, target_risk=target,
                               percentile=int(grid[reached[0]]) if reached.size else None,
                               multiple=float(multiple), years=float(years), age=float(age))


def absolute_risk_calibration(model: "SurvivalModel", samples: pd.DataFrame, *, time, event, prs=None,
                              by_age: float | None = 70.0, n_groups: int = 5, from_age: float | None = None,
                              years: float = 10.0) -> pd.DataFrame:
    """Observed against expected absolute risk, in groups (fifths) of predicted risk.

    Two risks can be checked:

    - ``by_age`` (default, ``from_age=None``): the risk of a diagnosis by that age, from birth, in everyone.
    - ``from_age`` and ``years``: the risk over the next ``years`` for someone cancer-free at ``from_age``
      (what a person is told at an assessment). Only people still followed and cancer-free at
      ``from_age`` (``time > from_age``) count, and their follow-up is counted from ``from_age``.

    Expected: the mean of the model's risk in the group. Observed: 1 minus the Kaplan-Meier estimate at
    the end of the window in the same group (lifelines), with its 95% interval, so censored follow-up counts;
    ``oe_low`` and ``oe_high`` are that interval divided by the expected risk. Judge a model on people it was
    not fitted on.

    Parameters
    ----------
    model : SurvivalModel
    samples : DataFrame, n rows
    time, event : array_like, shape (n,)
        Age at diagnosis or censoring, and 1 = diagnosed.
    prs : array_like, shape (n,), optional
        When the model has a PRS term.
    by_age : float, default 70
        Used when ``from_age`` is None.
    n_groups : int, default 5
    from_age : float, optional
        Start of a conditional window (people cancer-free at that age).
    years : float, default 10
        Length of the conditional window.

    Returns
    -------
    DataFrame
        One row per group of predicted risk (lowest first) and a last row "all": ``n``, ``events``,
        ``expected``, ``observed``, ``observed_low``, ``observed_high``, ``observed_to_expected``,
        ``oe_low``, ``oe_high``. ``events`` counts the group's diagnoses (with ``from_age``: those inside
        the window).

    Examples
    --------
    >>> # absolute_risk_calibration(cox, test, time=test["event_age"], event=test["case"], prs=test["prs"])
    >>> # absolute_risk_calibration(cox, test, time=..., event=..., prs=..., from_age=50, years=10)
    """
    from lifelines import KaplanMeierFitter

    t, e = check_survival(time, event)
    if len(t) != len(samples):
        raise MedaiInputError(f"'time' has {len(t)} values for {len(samples)} rows of 'samples'.")
    if not 2 <= int(n_groups) <= 20:
        raise MedaiInputError(f"'n_groups' must be between 2 and 20; got {n_groups!r}.")
    samples = samples.reset_index(drop=True)
    prs = None if prs is None else np.asarray(prs, dtype=float)
    if from_age is None:
        if by_age is None:
            raise MedaiInputError("give 'by_age' (risk from birth) or 'from_age' and 'years' (conditional risk).")
        expected = model.absolute_risk(samples, prs=prs, by_age=by_age)
        horizon = float(by_age)
    else:
        if not np.isfinite(from_age) or from_age < 0 or years <= 0:
            raise MedaiInputError(f"'from_age' must be an age >= 0 and 'years' > 0; got {from_age!r}, {years!r}.")
        keep = t > from_age   # still followed and cancer-free at from_age
        if keep.sum() < 2 * int(n_groups):
            raise MedaiInputError(f"only {int(keep.sum())} people are followed and cancer-free beyond age "
                                  f"{from_age:g}; too few for {n_groups} groups.")
        samples, prs = samples[keep].reset_index(drop=True), None if prs is None else prs[keep]
        t, e = t[keep] - float(from_age), e[keep].copy()
        e[t > years] = 0   # diagnoses after the window do not count in it
        expected = model.absolute_risk(samples, prs=prs, from_age=float(from_age), years=years)
        horizon = float(years)
    bins = pd.qcut(pd.Series(expected), int(n_groups), labels=False, duplicates="drop").to_numpy()
    rows = []
    for label, mask in [(f"{k + 1} of {bins.max() + 1}", bins == k) for k in range(bins.max() + 1)] + \
            [("all", np.ones(len(t), dtype=bool))]:
        with _quiet_lifelines():
            km = KaplanMeierFitter().fit(t[mask], e[mask])
            surv = float(km.survival_function_at_times(horizon).iloc[0])
            ci = km.confidence_interval_survival_function_
            row = ci[ci.index <= horizon].iloc[-1] if (ci.index <= horizon).any() else ci.iloc[0]
        observed, exp = 1.0 - surv, float(np.mean(expected[mask]))
        low, high = 1.0 - float(row.iloc[1]), 1.0 - float(row.iloc[0])
        rows.append({"group": label, "n": int(mask.sum()), "events": int(e[mask].sum()), "expected": exp,
                     "observed": observed, "observed_low": low, "observed_high": high,
                     "observed_to_expected": observed / exp if exp > 0 else np.nan,
                     "oe_low": low / exp if exp > 0 else np.nan, "oe_high": high / exp if exp > 0 else np.nan})
    return pd.DataFrame(rows).set_index("group")
