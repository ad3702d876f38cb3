"""The shared training loop: learning, early stopping with best restore, determinism, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from medai_lib.errors import MedaiInputError
from medai_lib.training import fit, predict, raw_step_throughput


def _data(n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype("float32")
    logit = 2.0 * X[:, 0] - 1.5 * X[:, 1]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float32")
    return X, y


def _mlp(d=6, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))


def test_fit_learns_and_matches_the_known_signal():
    X, y = _data()
    Xv, yv = _data(seed=1)
    res = fit(_mlp(), (X, y), (Xv, yv), epochs=25, lr=1e-2, progress=False, device="cpu", monitor="val_auc")
    scores = predict(res.model, Xv, device="cpu")
    oracle = roc_auc_score(yv, 2.0 * Xv[:, 0] - 1.5 * Xv[:, 1])
    auc = roc_auc_score(yv, scores)
    assert auc > oracle - 0.03, (auc, oracle)
    assert res.history["val_auc"].iloc[res.best_epoch - 1] == pytest.approx(res.best_score)
    assert auc == pytest.approx(res.best_score, abs=1e-6), "the best epoch must be restored"
    assert list(res.history.columns[:4]) == ["epoch", "train_loss", "val_loss", "val_auc"]
    assert res.history["train_loss"].iloc[-1] < res.history["train_loss"].iloc[0]
    assert res.device == "cpu" and res.amp_dtype is None


def test_same_seed_same_model_on_cpu():
    X, y = _data()
    a = fit(_mlp(seed=3), (X, y), epochs=3, progress=False, device="cpu", random_state=7)
    b = fit(_mlp(seed=3), (X, y), epochs=3, progress=False, device="cpu", random_state=7)
    c = fit(_mlp(seed=3), (X, y), epochs=3, progress=False, device="cpu", random_state=8)
    pa, pb, pc = (predict(r.model, X, device="cpu") for r in (a, b, c))
    assert np.array_equal(pa, pb)
    assert not np.array_equal(pa, pc)


def test_early_stopping_restores_the_best_epoch():
    X, y = _data(n=120)
    Xv, yv = _data(n=120, seed=5)
    res = fit(_mlp(), (X, y), (Xv, yv), epochs=60, lr=5e-2, patience=3, progress=False, device="cpu")
    assert len(res.history) < 60
    assert res.best_epoch == int(res.history["val_loss"].idxmin()) + 1
    assert len(res.history) - res.best_epoch == 3


def test_dataset_input_and_balanced_weights_and_image_cnn():
    X = torch.randn(64, 1, 16, 16)
    y = (X.mean(dim=(1, 2, 3)) > 0).float()
    ds = torch.utils.data.TensorDataset(X, y)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 1))
    res = fit(model, ds, (X, y), epochs=2, batch_size=16, pos_weight="balanced", progress=False, device="cpu",
              augment=lambda xb: torch.flip(xb, dims=[3]))
    assert len(res.history) == 2 and res.samples_per_second > 0
    assert raw_step_throughput(model, X[:16], steps=2, warmup=1, device="cpu") > 0
    ax = res.plot()
    assert ax.get_title() == "Learning curves"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"train": (np.zeros((4, 2), "float32"), np.zeros(3))}, "X has 4 samples but y has 3"),
        ({"train": (np.full((4, 2), np.nan, "float32"), np.zeros(4))}, "NaN"),
        ({"train": (np.zeros((4, 2), "float32"), np.array([0, 1, 2, 1]))}, "0/1 labels"),
        ({"monitor": "val_auc"}, "need validation data"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"device": "tpu"}, "device must be one of"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    X, y = _data(n=8, d=2)
    args = {"train": (X, y), "epochs": 1, "progress": False, "device": "cpu"}
    args.update(kwargs)
    train = args.pop("train")
    with pytest.raises((MedaiInputError, ValueError, TypeError), match=match):
        fit(torch.nn.Linear(2, 1), train, **args)
