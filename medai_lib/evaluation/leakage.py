"""Two of the ways an evaluation fools itself (course level 1.4), measured: the same patient on both sides
of a split (any table of visits with a patient identifier), and a test set used to choose among many
settings, the winner's test AUC then being optimistic (repeated studies on the course's visit table).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

__all__ = ["SplitComparison", "compare_splits", "TuningOptimism", "random_settings", "tuning_optimism"]

#: The two ways of cutting repeated visits into folds.
SPLITS = ("visit-level split", "patient-level split")


def _check_folds(n_folds) -> int:
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise MedaiInputError(f"n_folds must be an integer of at least 2; got {n_folds!r}.")
    return int(n_folds)


@dataclass(frozen=True)
class SplitComparison:
    """Cross-validated AUCs of models under a visit-level and a patient-level split.

    ``aucs``: one row per model and split (``model, split, auc, ci_low, ci_high``). ``differences``: one
    row per model, the visit-level AUC minus the patient-level AUC with its paired interval
    (``model, difference, ci_low, ci_high, p_value``).
    """

    aucs: pd.DataFrame
    differences: pd.DataFrame

    def auc(self, model: str, split: str) -> float:
        """The AUC of ``model`` under ``split`` ("visit-level split" or "patient-level split")."""
        row = self.aucs[(self.aucs["model"] == model) & (self.aucs["split"] == split)]
        if row.empty:
            raise MedaiInputError(f"no AUC for model={model!r}, split={split!r}; models: "
                                  f"{sorted(self.aucs['model'].unique())}, splits: {list(SPLITS)}.")
        return float(row["auc"].iloc[0])


def compare_splits(models: Mapping[str, Callable[[], object]], X: pd.DataFrame, y, groups, *, n_folds: int = 5,
                   n_bootstrap: int = 1000, confidence: float = 0.95, random_state=0) -> SplitComparison:
    """Cross-validated AUC of each model with a visit-level and a patient-level split, with intervals.

    Each model is fitted ``n_folds`` times per split; the out-of-fold predictions of all visits are pooled
    into one AUC. Intervals resample whole patients (cluster bootstrap), because the visits of one patient
    are not independent cases; the two splits of one model are compared as a pair on the same visits
    (:func:`~medai_lib.evaluation.compare_aucs` with ``clusters``), as two models are in course level 1.2.

    Parameters
    ----------
    models : mapping of name to a function returning an unfitted scikit-learn classifier
    X : pandas.DataFrame, shape (n_visits, n_features)
    y : array_like of 0/1, shape (n_visits,)
    groups : array_like, shape (n_visits,)
        The patient of each visit.
    n_folds : int, default 5
    n_bootstrap : int, default 1000
    confidence : float, default 0.95
    random_state : int, default 0
        Shuffles the visit-level folds and seeds the bootstrap.

    Returns
    -------
    SplitComparison

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from medai_lib.data import VISIT_FEATURES, make_visit_table
    >>> visits = make_visit_table(60, random_state=0)
    >>> result = compare_splits({"logistic": lambda: LogisticRegression(max_iter=1000)},
    ...                         visits[VISIT_FEATURES].fillna(0), visits["admitted_30d"], visits["patient_id"],
    ...                         n_bootstrap=200)
    >>> result.aucs["split"].tolist()
    ['visit-level split', 'patient-level split']
    """
    from sklearn.model_selection import GroupKFold, KFold, cross_val_predict

    from medai_lib.evaluation.roc import auc_bootstrap, compare_aucs

    n_folds = _check_folds(n_folds)
    if not models:
        raise MedaiInputError("models is empty; give at least one {name: function returning a model}.")
    y = np.asarray(y)
    groups = np.asarray(groups)
    if not (len(X) == len(y) == len(groups)):
        raise MedaiInputError(f"X, y and groups must have one row per visit; got {len(X)}, {len(y)} and "
                              f"{len(groups)} rows.")
    splitters = {SPLITS[0]: KFold(n_folds, shuffle=True, random_state=random_state),
                 SPLITS[1]: GroupKFold(n_folds)}
    aucs, differences = [], []
    for name, make_model in models.items():
        scores = {}
        for split, splitter in splitters.items():
            by_patient = groups if split == SPLITS[1] else None
            scores[split] = cross_val_predict(make_model(), X, y, groups=by_patient, cv=splitter,
                                              method="predict_proba")[:, 1]
            est = auc_bootstrap(y, scores[split], n_bootstrap=n_bootstrap, confidence=confidence,
                                random_state=random_state, clusters=groups)
            aucs.append({"model": name, "split": split, "auc": est.auc, "ci_low": est.ci_low,
                         "ci_high": est.ci_high})
        diff = compare_aucs(y, scores[SPLITS[0]], scores[SPLITS[1]], method="bootstrap", confidence=confidence,
                            n_bootstrap=n_bootstrap, random_state=random_state, clusters=groups)
        differences.append({"model": name, "difference": diff.difference, "ci_low": diff.ci_low,
                            "ci_high": diff.ci_high, "p_value": diff.p_value})
    return SplitComparison(aucs=pd.DataFrame(aucs), differences=pd.DataFrame(differences))


@dataclass(frozen=True)
class TuningOptimism:
    """What choosing among settings on the test patients costs, over repeated studies.

    ``repeats`` has one row per repeated study: the AUC the winner on the test patients showed there
    (``winner_test_auc``) and reached on new patients (``winner_new_auc``), the same two AUCs averaged over
    all settings (``blind_test_auc``, ``blind_new_auc``: what a setting fixed in advance, without looking at
    the test patients, shows on average), and the best AUC any setting reached on new patients
    (``best_new_auc``). ``candidates`` has one row per setting of the first study.
    """

    repeats: pd.DataFrame
    candidates: pd.DataFrame

    @property
    def optimism(self) -> pd.Series:
        """Per study: the winner's AUC on the test patients minus its AUC on new patients."""
        return self.repeats["winner_test_auc"] - self.repeats["winner_new_auc"]

    @property
    def blind_gap(self) -> pd.Series:
        """Per study: the same difference for a setting fixed in advance (average over all settings).
        It is not zero in one study: test patients can be easier or harder than new ones by chance."""
        return self.repeats["blind_test_auc"] - self.repeats["blind_new_auc"]

    @property
    def selection_gain(self) -> pd.Series:
        """Per study: how much more the winner promises than a setting fixed in advance (the luck picked)."""
        return self.optimism - self.blind_gap

    def summary(self, confidence: float = 0.95) -> pd.DataFrame:
        """Mean of each difference over the studies with its interval (t distribution), range, and the
        number of studies in which it was positive."""
        from scipy.stats import t

        rows = {}
        for name, gap in (("winner on the test patients", self.optimism),
                          ("setting fixed in advance", self.blind_gap),
                          ("difference (luck selected)", self.selection_gain)):
            n = len(gap)
            half = t.ppf(0.5 + confidence / 2, n - 1) * gap.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
            rows[name] = {"mean": gap.mean(), "ci_low": gap.mean() - half, "ci_high": gap.mean() + half,
                          "min": gap.min(), "max": gap.max(), "studies_positive": int((gap > 0).sum()),
                          "studies": n}
        return pd.DataFrame.from_dict(rows, orient="index")


def random_settings(n_candidates: int, features: Sequence[str], *, min_features: int = 3,
                    strength_range: tuple[float, float] = (1e-3, 10.0), random_state=0) -> list[dict]:
    """Candidate settings as an analyst tuning a logistic regression tries them: a subset of the features
    (``features``, at least ``min_features`` of them) and a regularisation strength (``strength``, scikit-learn's
    ``C``), drawn log-uniformly from ``strength_range``.

    Returns
    -------
    list of dict
        ``{"features": tuple of str, "strength": float}``, ``n_candidates`` of them.

    Examples
    --------
    >>> settings = random_settings(3, ["age", "male", "height_cm", "weight_kg"], random_state=0)
    >>> len(settings), sorted(settings[0])
    (3, ['features', 'strength'])
    """
    features = [str(f) for f in features]
    if not isinstance(n_candidates, (int, np.integer)) or n_candidates < 2:
        raise MedaiInputError(f"n_candidates must be an integer of at least 2; got {n_candidates!r}.")
    if not 1 <= min_features <= len(features):
        raise MedaiInputError(f"min_features must be between 1 and the {len(features)} features; got {min_features!r}.")
    low, high = strength_range
    if not 0 < low <= high:
        raise MedaiInputError(f"strength_range must be two positive numbers (low, high); got {strength_range!r}.")
    rng = np.random.default_rng(random_state)
    settings = []
    for _ in range(n_candidates):
        size = int(rng.integers(min_features, len(features) + 1))
        chosen = rng.choice(len(features), size=size, replace=False)
        settings.append({"features": tuple(features[i] for i in sorted(chosen)),
                         "strength": float(np.exp(rng.uniform(np.log(low), np.log(high))))})
    return settings


def tuning_optimism(make_model: Callable[..., object], settings: Sequence[Mapping], *, features: Sequence[str],
                    n_patients: int = 300, n_new_patients: int = 2000, n_repeats: int = 10,
                    test_size: float = 0.3, random_state=0, progress: bool = False) -> TuningOptimism:
    """Repeat a study that tunes on its test patients, and measure how much the winner's AUC promises.

    Each repeat draws a new cohort (:func:`~medai_lib.data.make_visit_table`), splits its patients into
    training and test patients, fits every candidate setting on the training patients, keeps the one with
    the best AUC on the test patients, and scores that winner on ``n_new_patients`` new patients (another
    clinic year). The average over all settings is what a setting fixed in advance shows: how far test and
    new patients differ by chance alone, with no choice made on the test patients.

    Parameters
    ----------
    make_model : callable
        ``make_model(**setting)`` returns an unfitted scikit-learn classifier (without the setting's
        ``features`` key, if it has one).
    settings : sequence of mappings
        The candidate settings (at least 2), e.g. from :func:`random_settings`. A ``features`` key names the
        columns that candidate uses; without it, it uses ``features``.
    features : sequence of str
        The visit-table columns the models use by default.
    n_patients, n_new_patients : int
        Patients in each study's cohort and in its new-patient group.
    n_repeats : int, default 10
    test_size : float, default 0.3
        Fraction of the patients held out as test patients.
    random_state : int, default 0
    progress : bool, default False
        Show a progress bar over the repeats.

    Returns
    -------
    TuningOptimism

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> def model(strength):
    ...     return LogisticRegression(C=strength, max_iter=1000)
    >>> settings = [{"features": ("age", "male"), "strength": 1.0}, {"features": ("age",), "strength": 0.1}]
    >>> result = tuning_optimism(model, settings, features=["age", "male"], n_patients=60,
    ...                          n_new_patients=100, n_repeats=2)
    >>> len(result.repeats)
    2
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupShuffleSplit

    from medai_lib.data import make_visit_table

    settings = [dict(s) for s in settings]
    if len(settings) < 2:
        raise MedaiInputError(f"settings must hold at least 2 candidate settings to choose from; got {len(settings)}.")
    if not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise MedaiInputError(f"n_repeats must be a positive integer; got {n_repeats!r}.")
    if not 0 < test_size < 1:
        raise MedaiInputError(f"test_size must be a fraction between 0 and 1; got {test_size!r}.")
    features = list(features)
    seeds = np.random.SeedSequence(random_state).generate_state(n_repeats * 2)
    repeats, first = [], None
    iterator = range(n_repeats)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="repeated studies")
    for r in iterator:
        visits = make_visit_table(n_patients, random_state=int(seeds[2 * r]))
        new = make_visit_table(n_new_patients, random_state=int(seeds[2 * r + 1]))
        y, patient = visits["admitted_30d"].to_numpy(), visits["patient_id"].to_numpy()
        split = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=int(seeds[2 * r]))
        train, test = next(split.split(visits, y, groups=patient))
        rows = []
        for setting in settings:
            columns = list(setting.get("features", features))
            model = make_model(**{k: v for k, v in setting.items() if k != "features"})
            model.fit(visits[columns].iloc[train], y[train])
            rows.append({**setting,
                         "test_auc": roc_auc_score(y[test], model.predict_proba(visits[columns].iloc[test])[:, 1]),
                         "new_auc": roc_auc_score(new["admitted_30d"], model.predict_proba(new[columns])[:, 1])})
        table = pd.DataFrame(rows)
        winner = table.loc[table["test_auc"].idxmax()]
        repeats.append({"study": r + 1, "winner_test_auc": winner["test_auc"], "winner_new_auc": winner["new_auc"],
                        "blind_test_auc": table["test_auc"].mean(), "blind_new_auc": table["new_auc"].mean(),
                        "best_new_auc": table["new_auc"].max()})
        if first is None:
            first = table.assign(chosen=table.index == table["test_auc"].idxmax())
    return TuningOptimism(repeats=pd.DataFrame(repeats), candidates=first)
