"""Per-minute apnea detection: feature models (scikit-learn) and 1D CNNs on raw signals (PyTorch).

Splits are subject-wise (no night in both training and test); per-recording AHI is estimated from the
per-minute predictions. CNNs train with the shared loop :func:`medai_lib.training.fit`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from medai_lib.apnea.features import ECG_CHANNELS, RESP_CHANNELS
from medai_lib.errors import MedaiInputError

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ splits
def subject_split(groups, *, test_size: float = 0.3, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Split rows so that every subject's minutes fall on one side only.

    Parameters
    ----------
    groups : array_like, shape (n_rows,)
        Subject of each row (e.g. ``dataset.groups``).
    test_size : float, default 0.3
        Share of subjects (not of rows) held out.
    random_state : int, Generator or None

    Returns
    -------
    (train_idx, test_idx) : ndarrays of int

    Examples
    --------
    >>> tr, te = subject_split(["a", "a", "b", "b", "c", "c"], test_size=1/3, random_state=0)
    >>> len(te)
    2
    """
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) == 0:
        raise MedaiInputError(f"groups must be a 1-D array with one subject per row; got shape {groups.shape}.")
    if not 0 < test_size < 1:
        raise MedaiInputError(f"test_size must be a share in (0, 1), e.g. 0.3; got {test_size!r}.")
    subjects = np.unique(groups)
    if len(subjects) < 2:
        raise MedaiInputError(f"groups holds {len(subjects)} subject; a subject-wise split needs at least 2.")
    rng = check_random_state(random_state)
    n_test = int(np.clip(round(test_size * len(subjects)), 1, len(subjects) - 1))
    test_subjects = rng.permutation(subjects)[:n_test]
    is_test = np.isin(groups, test_subjects)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def random_minute_split(n_rows: int, *, test_size: float = 0.3, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """The leaky split: minutes drawn at random, so every subject sits on both sides.

    Shown only to demonstrate leakage: neighbouring minutes share signal (and windows overlap), and a
    model can learn each subject's event rate; its test scores overstate performance on new patients.

    Examples
    --------
    >>> tr, te = random_minute_split(10, test_size=0.3, random_state=0)
    >>> len(tr), len(te)
    (7, 3)
    """
    if not isinstance(n_rows, (int, np.integer)) or n_rows < 2:
        raise MedaiInputError(f"n_rows must be an integer >= 2; got {n_rows!r}.")
    if not 0 < test_size < 1:
        raise MedaiInputError(f"test_size must be a share in (0, 1), e.g. 0.3; got {test_size!r}.")
    rng = check_random_state(random_state)
    perm = rng.permutation(n_rows)
    n_test = int(np.clip(round(test_size * n_rows), 1, n_rows - 1))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _check_xy(X, y, *, x_name: str = "X", y_name: str = "y"):
    if len(X) != len(y):
        raise MedaiInputError(f"{x_name} has {len(X)} rows but {y_name} has {len(y)} labels; labels must be aligned "
                              f"with the windows/minutes (one label per row, same order).")
    y = np.asarray(y)
    if not np.isin(y, (0, 1)).all():
        raise MedaiInputError(f"{y_name} must hold 0/1 labels (1 = apnea minute).")
    return y.astype(np.float32)


# ------------------------------------------------------------------------------------------------ features
def fit_feature_model(X, y, *, kind: str = "boosting", random_state=0):
    """Fit a per-minute classifier on hand-made features.

    Parameters
    ----------
    X : DataFrame or ndarray, shape (n_minutes, n_features)
    y : array_like of 0/1, shape (n_minutes,)
    kind : {"boosting", "forest", "logistic"}, default "boosting"
        Histogram gradient boosting, a random forest of fully grown trees (it can memorise individual
        minutes, which makes leakage visible), or a standardised logistic regression.
    random_state : int

    Returns
    -------
    fitted scikit-learn estimator (``predict_proba``)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> fit_feature_model(X, y, kind="logistic").predict_proba(X).shape
    (200, 2)
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = _check_xy(X, y).astype(int)
    if kind == "boosting":
        model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, max_leaf_nodes=15,
                                               random_state=random_state)
    elif kind == "forest":
        model = RandomForestClassifier(n_estimators=100, min_samples_leaf=1, n_jobs=1, random_state=random_state)
    elif kind == "logistic":
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    else:
        raise MedaiInputError(f"kind must be 'boosting', 'forest' or 'logistic'; got {kind!r}.")
    return model.fit(X, y)


# ------------------------------------------------------------------------------------------------ CNN
def _torch():
    import torch

    return torch


def _build_cnn_class():
    torch = _torch()
    nn = torch.nn

    class MinuteCNN(nn.Module):
        """Strided 1D convolution blocks; average and max pooling over the centre minute plus the average
        over the whole window (context); one logit per window."""

        def __init__(self, channels, *, width=16, n_blocks=4, kernel_size=7, first_stride=2, context_min=1):
            super().__init__()
            self.channels = tuple(channels)
            self.context_min = int(context_min)
            layers, c_in = [], len(self.channels)
            rf, jump = 1, 1
            for i in range(n_blocks):
                c_out = width * min(2 ** (i // 2), 4)
                stride = first_stride if i == 0 else 2
                layers += [nn.Conv1d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
                           nn.BatchNorm1d(c_out), nn.ReLU(inplace=True)]
                rf += (kernel_size - 1) * jump
                jump *= stride
                c_in = c_out
            self.features = nn.Sequential(*layers)
            self.head = nn.Linear(3 * c_in, 1)
            #: Input samples that influence one output position: windows must be at least this long.
            self.receptive_field = int(rf)

        def forward(self, x):
            h = self.features(x)
            n = h.shape[-1]
            # the labelled minute is the centre of the window: pool it apart from its context
            a = min(int(round(n * self.context_min / (1 + 2 * self.context_min))), (n - 1) // 2)
            centre = h[..., a:n - a]
            h = torch.cat([centre.mean(dim=-1), centre.amax(dim=-1), h.mean(dim=-1)], dim=1)
            return self.head(h).squeeze(-1)

    return MinuteCNN


def make_minute_cnn(channels: Sequence[str] = RESP_CHANNELS, *, width: int = 16, n_blocks: "int | None" = None,
                    context_min: "int | None" = None, random_state: int = 0):
    """A small 1D CNN giving one apnea logit per window.

    Parameters
    ----------
    channels : sequence of str, default RESP_CHANNELS
        Channel order of the windows it will read; stored on the model and checked at training and
        prediction. ``("ecg",)`` makes the ECG-only variant (deeper, first stride 4, for 64 Hz input).
    width : int, default 16
        Filters of the first block (doubling every two blocks, at most 4x).
    n_blocks : int, optional
        Convolution blocks (default 5).
    context_min : int, optional
        Minutes of context on either side of the labelled minute in the windows (default 1, and 2 for
        :data:`ECG_CHANNELS`, as built by :func:`medai_lib.apnea.make_minute_dataset`).
    random_state : int
        Seeds the initial weights.

    Returns
    -------
    torch.nn.Module with attributes ``channels`` and ``receptive_field``

    Examples
    --------
    >>> model = make_minute_cnn(("flow", "thorax", "abdomen", "spo2"))
    >>> model.receptive_field
    187
    """
    torch = _torch()
    channels = tuple(channels)
    if not channels or len(set(channels)) != len(channels):
        raise MedaiInputError(f"channels must name distinct channels, e.g. {RESP_CHANNELS}; got {channels!r}.")
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise MedaiInputError(f"width must be a positive integer; got {width!r}.")
    if n_blocks is None:
        n_blocks = 5
    if context_min is None:
        context_min = 2 if channels == ECG_CHANNELS else 1
    if not isinstance(context_min, (int, np.integer)) or context_min < 0:
        raise MedaiInputError(f"context_min must be a non-negative integer; got {context_min!r}.")
    if not isinstance(n_blocks, (int, np.integer)) or not 1 <= n_blocks <= 12:
        raise MedaiInputError(f"n_blocks must be an integer from 1 to 12; got {n_blocks!r}.")
    torch.manual_seed(random_state)
    return _build_cnn_class()(channels, width=int(width), n_blocks=int(n_blocks),
                              first_stride=2, context_min=int(context_min))


def check_windows(model, X, *, channels: Sequence[str], name: str = "X") -> None:
    """Raise a clear error when windows do not fit ``model``: shape, channel order or length.

    Parameters
    ----------
    model : module from :func:`make_minute_cnn`
    X : ndarray or tensor, shape (n_windows, n_channels, n_samples)
    channels : sequence of str
        Channel order of ``X``.
    """
    channels = tuple(channels)
    shape = tuple(X.shape)
    if len(shape) != 3:
        raise MedaiInputError(f"{name} must have shape (n_windows, n_channels, n_samples); got {shape}. Build "
                              "windows with medai_lib.apnea.minute_windows.")
    expected = tuple(getattr(model, "channels", channels))
    if channels != expected:
        missing = [c for c in expected if c not in channels]
        fix = f"missing {missing}" if missing else "same channels in another order"
        raise MedaiInputError(f"channels of {name} are {channels} but the model reads {expected} ({fix}). Rebuild "
                              f"the windows with minute_windows(..., channels={expected}).")
    if shape[1] != len(channels):
        raise MedaiInputError(f"{name} has {shape[1]} channels but channels names {len(channels)}: {channels}.")
    rf = int(getattr(model, "receptive_field", 1))
    if shape[2] < rf:
        raise MedaiInputError(f"{name} windows are {shape[2]} samples long, shorter than the model's receptive "
                              f"field of {rf} samples; use longer windows (context_min or rate in minute_windows) "
                              "or a model with fewer blocks.")


def train_minute_cnn(model, X, y, X_val, y_val, *, channels: Sequence[str], epochs: int = 10,
                     batch_size: int = 32, lr: float = 1e-2, device="auto", random_state: int = 0,
                     progress: bool = False, patience: "int | None" = None):
    """Train a :func:`make_minute_cnn` model with the shared loop (balanced loss, best validation AUC kept).

    Parameters
    ----------
    model : module from :func:`make_minute_cnn`
    X, X_val : ndarray of float32, shape (n_windows, n_channels, n_samples)
    y, y_val : array_like of 0/1, shape (n_windows,)
        Labels aligned with the windows.
    channels : sequence of str
        Channel order of the windows (must match ``model.channels``).
    epochs, batch_size, lr, device, random_state, progress, patience
        Passed to :func:`medai_lib.training.fit`.

    Returns
    -------
    FitResult
    """
    from medai_lib.training import fit

    check_windows(model, X, channels=channels, name="X")
    check_windows(model, X_val, channels=channels, name="X_val")
    y = _check_xy(X, y)
    y_val = _check_xy(X_val, y_val, x_name="X_val", y_name="y_val")
    if y.min() == y.max():
        raise MedaiInputError("y holds a single class; training needs apnea and normal minutes.")
    monitor = "val_auc" if 0 < y_val.sum() < len(y_val) else "val_loss"
    return fit(model, (np.ascontiguousarray(X, dtype=np.float32), y),
               (np.ascontiguousarray(X_val, dtype=np.float32), y_val), epochs=epochs, batch_size=batch_size,
               lr=lr, pos_weight="balanced", device=device, monitor=monitor, patience=patience,
               random_state=random_state, progress=progress)


def predict_minutes(model, X, *, channels: Sequence[str], device="auto") -> np.ndarray:
    """Probability of an apnea minute for each window (checks shape, channel order and length first).

    Returns
    -------
    ndarray of float, shape (n_windows,)
    """
    from medai_lib.training import predict

    check_windows(model, X, channels=channels)
    return predict(model, np.ascontiguousarray(X, dtype=np.float32), device=device)


# ------------------------------------------------------------------------------------------------ AHI
def _minute_rate(subject_id, values, sleep) -> pd.DataFrame:
    df = pd.DataFrame({"subject_id": np.asarray(subject_id), "v": np.asarray(values, float),
                       "sleep": np.asarray(sleep, bool)})
    g = df[df["sleep"]].groupby("subject_id", sort=False)
    out = pd.DataFrame({"apnea_minutes_per_h": g["v"].sum() / (g["v"].size() / 60.0)})
    return out.reindex(pd.unique(df["subject_id"])).fillna(0.0)


@dataclass(frozen=True)
class MinuteAHIModel:
    """AHI = ``events_per_apnea_minute`` x (apnea minutes per hour of sleep), fitted on training subjects."""

    events_per_apnea_minute: float

    def predict(self, subject_id, minute_prob, sleep) -> pd.DataFrame:
        """Per-subject ``apnea_minutes_per_h`` and ``ahi_estimate`` from per-minute probabilities.

        Parameters
        ----------
        subject_id, minute_prob, sleep : array_like, shape (n_minutes,)
            Sum of probabilities over the minutes of sleep (from the hypnogram) per hour of sleep.
        """
        n = len(subject_id)
        if not len(minute_prob) == len(sleep) == n:
            raise MedaiInputError("subject_id, minute_prob and sleep must have one value per minute (same length).")
        out = _minute_rate(subject_id, minute_prob, sleep)
        out["ahi_estimate"] = self.events_per_apnea_minute * out["apnea_minutes_per_h"]
        return out


def fit_minute_ahi(subject_id, labels, sleep, true_ahi) -> MinuteAHIModel:
    """Fit how many events an apnea minute stands for, on training subjects (least squares through 0).

    Parameters
    ----------
    subject_id, labels, sleep : array_like, shape (n_minutes,)
    true_ahi : Series or mapping, subject_id -> reference AHI

    Examples
    --------
    >>> m = fit_minute_ahi(["a"] * 60 + ["b"] * 60, [1] * 10 + [0] * 50 + [1] * 30 + [0] * 30,
    ...                    [True] * 120, {"a": 12.0, "b": 36.0})
    >>> round(m.events_per_apnea_minute, 2)
    1.2
    """
    if not len(subject_id) == len(labels) == len(sleep):
        raise MedaiInputError("subject_id, labels and sleep must have one value per minute (same length).")
    rate = _minute_rate(subject_id, labels, sleep)["apnea_minutes_per_h"]
    ref = pd.Series(true_ahi).reindex(rate.index)
    if ref.isna().any():
        raise MedaiInputError(f"true_ahi has no value for subjects {list(ref.index[ref.isna()])[:5]}.")
    den = float((rate**2).sum())
    if den == 0:
        raise MedaiInputError("no apnea minutes in the training subjects; cannot relate minutes to AHI.")
    return MinuteAHIModel(events_per_apnea_minute=float((rate * ref).sum() / den))


# ------------------------------------------------------------------------------------------------ metrics
def subject_bootstrap(y_true, y_score, groups, *, threshold: float = 0.5, n_bootstrap: int = 500,
                      confidence: float = 0.95, random_state=0) -> pd.DataFrame:
    """AUC and accuracy of per-minute predictions with subject-level (cluster) bootstrap intervals.

    Minutes of one night are correlated, so intervals resample subjects, not minutes: this is
    :func:`medai_lib.evaluation.cluster_bootstrap` with the subjects as clusters, keeping its ``auc`` and
    ``accuracy`` rows.

    Returns
    -------
    DataFrame with rows ``auc, accuracy`` and columns ``estimate, ci_low, ci_high``.
    """
    from medai_lib.evaluation import cluster_bootstrap

    y = np.asarray(y_true)
    s = np.asarray(y_score, float)
    g = np.asarray(groups)
    if not len(y) == len(s) == len(g):
        raise MedaiInputError("y_true, y_score and groups must have one value per minute (same length).")
    table = cluster_bootstrap(y, s, g, threshold=threshold, n_bootstrap=n_bootstrap, confidence=confidence,
                              random_state=random_state)
    return table.loc[["auc", "accuracy"]]


def compare_models(y_true, scores, groups, *, n_bootstrap: int = 500, random_state=0) -> pd.DataFrame:
    """:func:`subject_bootstrap` for several models' per-minute scores on the same test minutes.

    Parameters
    ----------
    y_true : array_like of 0/1, shape (n_minutes,)
    scores : mapping of str to array_like, shape (n_minutes,)
        Model name to its scores, in the order the rows should appear.
    groups : array_like, shape (n_minutes,)
        The subject of each minute (intervals resample subjects).

    Returns
    -------
    DataFrame indexed by model with ``auc estimate, auc ci_low, auc ci_high, accuracy estimate,
    accuracy ci_low, accuracy ci_high``.

    Examples
    --------
    >>> from medai_lib.apnea import make_sleep_cohort, make_minute_dataset
    >>> data = make_minute_dataset(make_sleep_cohort(3, hours=1.0, random_state=0), windows=False)  # doctest: +SKIP
    >>> compare_models(data.labels, {"SpO2 dip": data.table["spo2_drop_next"]}, data.groups)  # doctest: +SKIP
    """
    rows = []
    for name, score in dict(scores).items():
        t = subject_bootstrap(y_true, score, groups, n_bootstrap=n_bootstrap, random_state=random_state)
        rows.append({"model": name, **{f"{m} {c}": t.loc[m, c] for m in ("auc", "accuracy") for c in t.columns}})
    return pd.DataFrame(rows).set_index("model")


def leakage_comparison(X, y, groups, *, test_size: float = 0.3, kind: str = "forest", n_repeats: int = 5,
                       random_state=0) -> pd.DataFrame:
    """The same feature model evaluated after subject-wise and after random-minute splits.

    Each split is repeated ``n_repeats`` times with different seeds (a single split of a few subjects
    is noisy); the table gives the mean and the standard deviation over the repeats.

    Returns
    -------
    DataFrame, one row per split (``subject-wise``, ``random minutes``): ``auc, auc_sd, accuracy, accuracy_sd,
    n_test_minutes, subjects_in_both``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> groups = np.repeat(np.arange(10), 50)
    >>> X = rng.normal(size=(500, 2)) + groups[:, None] * 0.3; y = (rng.random(500) < groups / 12).astype(int)
    >>> leakage_comparison(X, y, groups, n_repeats=2, random_state=0).index.tolist()
    ['subject-wise', 'random minutes']
    """
    from sklearn.metrics import roc_auc_score

    y = _check_xy(X, y).astype(int)
    groups = np.asarray(groups)
    if len(groups) != len(y):
        raise MedaiInputError("groups must name the subject of every row of X (same length).")
    if not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise MedaiInputError(f"n_repeats must be a positive integer; got {n_repeats!r}.")
    Xa = X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
    rng = check_random_state(random_state)
    seeds = rng.randint(0, 2**31 - 1, int(n_repeats))
    rows = []
    for name in ("subject-wise", "random minutes"):
        res = []
        for seed in seeds:
            tr, te = (subject_split(groups, test_size=test_size, random_state=int(seed)) if name == "subject-wise"
                      else random_minute_split(len(y), test_size=test_size, random_state=int(seed)))
            if y[te].min() == y[te].max() or y[tr].min() == y[tr].max():
                continue
            model = fit_feature_model(Xa[tr], y[tr], kind=kind, random_state=0)
            p = model.predict_proba(Xa[te])[:, 1]
            res.append((roc_auc_score(y[te], p), float(((p >= 0.5) == y[te]).mean()), len(te),
                        len(np.intersect1d(groups[tr], groups[te]))))
        r = np.asarray(res, dtype=float)
        rows.append({"split": name, "auc": r[:, 0].mean(), "auc_sd": r[:, 0].std(ddof=1) if len(r) > 1 else np.nan,
                     "accuracy": r[:, 1].mean(), "accuracy_sd": r[:, 1].std(ddof=1) if len(r) > 1 else np.nan,
                     "n_test_minutes": int(r[:, 2].mean()), "subjects_in_both": int(r[:, 3].max())})
    return pd.DataFrame(rows).set_index("split")


__all__ = ["MinuteAHIModel", "check_windows", "fit_feature_model", "fit_minute_ahi", "leakage_comparison",
           "make_minute_cnn", "predict_minutes", "random_minute_split", "subject_bootstrap", "subject_split",
           "train_minute_cnn"]
