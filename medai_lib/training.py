"""The one training loop every PyTorch model in the course uses: ``fit`` and ``predict``.

The device is chosen once (:func:`medai_lib.device.get_device`) and passed down; bf16/fp16 autocast where
the device supports it, channels-last for image CNNs, tqdm progress, validation each epoch, early stopping
with best-checkpoint restore, and a history table with a learning-curve plot. In-memory data are moved to
the device once and batched there, so the step holds no host-device copies beyond what a Dataset needs.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

log = logging.getLogger(__name__)

__all__ = ["FitResult", "fit", "predict", "raw_step_throughput"]


def _torch():
    import torch

    return torch


@dataclass(frozen=True)
class FitResult:
    """What :func:`fit` returns: the trained model (best epoch restored) and how training went."""

    model: Any
    history: pd.DataFrame
    best_epoch: int
    best_score: float
    monitor: str
    device: str
    amp_dtype: str | None
    channels_last: bool
    seconds: float

    @property
    def samples_per_second(self) -> float:
        """Median training throughput over the epochs (samples per second)."""
        return float(self.history["train_samples_per_s"].median())

    def plot(self, ax=None):
        """Learning curves: training and validation loss (and validation AUC when computed)."""
        import matplotlib.pyplot as plt

        from medai_lib.plotting import OKABE_ITO

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.6))
        h = self.history
        ax.plot(h["epoch"], h["train_loss"], marker="o", color=OKABE_ITO["blue"], label="training loss")
        if h["val_loss"].notna().any():
            ax.plot(h["epoch"], h["val_loss"], marker="s", color=OKABE_ITO["vermillion"], label="validation loss")
        ax.axvline(self.best_epoch, color="grey", linestyle=":", label=f"best epoch ({self.best_epoch})")
        ax.set(xlabel="epoch (one pass over the training images)", ylabel="loss (cross-entropy, lower is better)")
        if "val_auc" in h and h["val_auc"].notna().any():
            ax2 = ax.twinx()
            ax2.plot(h["epoch"], h["val_auc"], marker="^", color=OKABE_ITO["bluish_green"], label="validation AUC")
            ax2.set(ylabel="validation AUC", ylim=(0.4, 1.0))
            lines = ax.get_legend_handles_labels()
            lines2 = ax2.get_legend_handles_labels()
            handles, labels = lines[0] + lines2[0], lines[1] + lines2[1]
        else:
            handles, labels = ax.get_legend_handles_labels()
        # Below the axes: inside, it hides part of a curve whatever corner it takes.
        ax.legend(handles, labels, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2,
                  frameon=False)
        ax.set_title("Learning curves")
        return ax


def _as_tensor(x, name: str, dtype=None):
    torch = _torch()
    if isinstance(x, torch.Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        raise TypeError(f"{name} must be a numpy array or torch tensor; got {type(x).__name__}.")
    if dtype is not None:
        t = t.to(dtype)
    return t


def _check_xy(data, name: str, *, task: str):
    torch = _torch()
    if isinstance(data, torch.utils.data.Dataset):
        return data
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"{name} must be a (X, y) pair of arrays/tensors or a torch Dataset; got {type(data).__name__}.")
    x = _as_tensor(data[0], f"{name}[0] (X)", torch.float32)
    y = _as_tensor(data[1], f"{name}[1] (y)")
    if x.ndim < 2:
        raise MedaiInputError(f"{name}[0] (X) must have a batch dimension and features; got shape {tuple(x.shape)}.")
    if len(x) != len(y):
        raise MedaiInputError(f"{name}: X has {len(x)} samples but y has {len(y)}; they must match (one label per sample).")
    if len(x) == 0:
        raise MedaiInputError(f"{name} is empty.")
    if not torch.isfinite(x).all():
        raise MedaiInputError(f"{name}[0] (X) contains NaN or infinite values; clean or impute them first.")
    if task == "binary":
        values = torch.unique(y)
        if not set(values.tolist()) <= {0, 1, 0.0, 1.0}:
            raise MedaiInputError(f"{name}[1] (y) must hold 0/1 labels for a binary model; got values {values[:5].tolist()}.")
        y = y.to(torch.float32)
    else:
        y = y.to(torch.long)
    return x, y


def _batches(data, *, batch_size: int, shuffle: bool, generator, device, channels_last: bool,
             num_workers: int = 0):
    """Yield (x, y) batches on ``device``. In-memory tensors already live on the device."""
    torch = _torch()
    if isinstance(data, tuple):
        x, y = data
        n = len(x)
        if shuffle:
            order = torch.randperm(n, generator=generator).to(x.device, non_blocking=True)
        else:
            order = torch.arange(n, device=x.device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            if channels_last and xb.ndim == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb
    else:
        loader = torch.utils.data.DataLoader(
            data, batch_size=batch_size, shuffle=shuffle, generator=generator if shuffle else None,
            num_workers=num_workers, pin_memory=device.type == "cuda", drop_last=False,
            persistent_workers=num_workers > 0,
        )
        for xb, yb in loader:
            xb = xb.to(device, non_blocking=True).float()
            yb = yb.to(device, non_blocking=True)
            if channels_last and xb.ndim == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb


def _n_samples(data) -> int:
    return len(data[0]) if isinstance(data, tuple) else len(data)


def _logits_to_scores(logits, task: str):
    torch = _torch()
    if task == "binary":
        return torch.sigmoid(logits.float().reshape(len(logits), -1)[:, -1])
    return torch.softmax(logits.float(), dim=1)


def fit(
    model,
    train,
    val=None,
    *,
    task: str = "binary",
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    pos_weight: "float | str | None" = None,
    device="auto",
    amp: bool = True,
    channels_last: bool | None = None,
    augment: Callable | None = None,
    monitor: str = "val_loss",
    patience: int | None = None,
    random_state: int = 0,
    progress: bool = True,
    num_workers: int = 0,
    compile: bool = False,
) -> FitResult:
    """Train ``model`` with AdamW, validating each epoch, and restore the best epoch.

    Parameters
    ----------
    model : torch.nn.Module
        Outputs logits: shape (n,) or (n, 1) for ``task="binary"``, (n, n_classes) for ``"multiclass"``.
    train, val : (X, y) pair or torch Dataset
        X float array/tensor, shape (n_samples, ...); y 0/1 (binary) or class indices. In-memory pairs are
        moved to the device once and batched there.
    task : {"binary", "multiclass"}
    epochs, batch_size, lr, weight_decay : training schedule (AdamW, cosine learning-rate decay)
    pos_weight : float, "balanced" or None
        Weight of positive cases in the binary loss; "balanced" uses n_negative / n_positive (class imbalance).
    device : str or torch.device, default "auto"
    amp : bool, default True
        Mixed precision where the device supports it (bf16, or fp16 with loss scaling); ignored on CPU.
    channels_last : bool, optional
        Memory format for 4-D image batches; default: on for CUDA, off elsewhere.
    augment : callable, optional
        Applied to each training batch ``x`` on the device (e.g. random flips/rotations done on the GPU).
    monitor : {"val_loss", "val_auc"}
        What chooses the best epoch and early stopping (``val_auc`` for binary tasks only).
    patience : int, optional
        Stop after this many epochs without improvement of ``monitor``.
    random_state : int
        Seeds initialisation-independent randomness here (batch order, augmentation); on the CPU the same
        seed and the same initial model give the same trained model.
    progress : bool
        A tqdm progress bar per run.
    compile : bool
        ``torch.compile`` the model (GPU full mode; slower to start).

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import numpy as np, torch
    >>> from medai_lib.training import fit, predict
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)).astype("float32"); y = (X[:, 0] > 0).astype("float32")
    >>> torch.manual_seed(0) and None
    >>> res = fit(torch.nn.Linear(5, 1), (X, y), (X, y), epochs=3, progress=False, device="cpu")
    >>> predict(res.model, X, device="cpu").shape
    (200,)
    """
    torch = _torch()
    from medai_lib.device import autocast_dtype, get_device

    if task not in ("binary", "multiclass"):
        raise MedaiInputError(f"task must be 'binary' or 'multiclass'; got {task!r}.")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise MedaiInputError(f"{name} must be a positive integer; got {value!r}.")
    if monitor not in ("val_loss", "val_auc"):
        raise MedaiInputError(f"monitor must be 'val_loss' or 'val_auc'; got {monitor!r}.")
    if monitor == "val_auc" and task != "binary":
        raise MedaiInputError("monitor='val_auc' needs task='binary'; use monitor='val_loss'.")
    if (patience is not None or monitor == "val_auc") and val is None:
        raise MedaiInputError("early stopping and monitor='val_auc' need validation data: pass val=(X_val, y_val).")
    device = get_device(device)
    train = _check_xy(train, "train", task=task)
    val = _check_xy(val, "val", task=task) if val is not None else None
    if channels_last is None:
        channels_last = device.type == "cuda"
    if isinstance(train, tuple):
        train = (train[0].to(device), train[1].to(device))
    if isinstance(val, tuple):
        val = (val[0].to(device), val[1].to(device))

    torch.manual_seed(random_state)
    generator = torch.Generator().manual_seed(random_state)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compile else model
    dtype = autocast_dtype(device) if amp else None
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None

    if task == "binary":
        if pos_weight == "balanced":
            y_all = train[1] if isinstance(train, tuple) else torch.as_tensor([float(train[i][1]) for i in range(len(train))])
            n_pos = float(y_all.sum())
            n_neg = float(len(y_all) - n_pos)
            if n_pos == 0 or n_neg == 0:
                raise MedaiInputError("train holds a single class; a binary model needs both 0 and 1 labels.")
            pos_weight = n_neg / n_pos
        weight = torch.tensor([float(pos_weight)], device=device) if pos_weight is not None else None
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=weight)
    else:
        loss_fn = torch.nn.CrossEntropyLoss()

    def compute_loss(logits, yb):
        if task == "binary":
            return loss_fn(logits.float().reshape(len(yb), -1)[:, -1], yb)
        return loss_fn(logits.float(), yb)

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    ctx = (lambda: torch.autocast(device_type=device.type, dtype=dtype)) if dtype is not None else None

    from tqdm.auto import tqdm

    n_train = _n_samples(train)
    rows = []
    best_score, best_epoch, best_state, bad_epochs = None, 0, None, 0
    better = (lambda a, b: a < b) if monitor == "val_loss" else (lambda a, b: a > b)
    start_all = time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc="training", unit="epoch", disable=not progress, leave=True)
    for epoch in bar:
        model.train()
        total = torch.zeros((), device=device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for xb, yb in _batches(train, batch_size=batch_size, shuffle=True, generator=generator, device=device,
                               channels_last=channels_last, num_workers=num_workers):
            if augment is not None:
                xb = augment(xb)
            optimizer.zero_grad(set_to_none=True)
            if ctx is not None:
                with ctx():
                    logits = step_model(xb)
            else:
                logits = step_model(xb)
            loss = compute_loss(logits, yb)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            total += loss.detach() * len(yb)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - t0
        scheduler.step()
        row = {"epoch": epoch, "train_loss": float(total.item()) / n_train, "val_loss": np.nan, "val_auc": np.nan,
               "train_seconds": train_seconds, "train_samples_per_s": n_train / max(train_seconds, 1e-9),
               "lr": optimizer.param_groups[0]["lr"]}
        if val is not None:
            val_loss, scores, labels = _evaluate(step_model, val, compute_loss, device=device, ctx=ctx,
                                                 batch_size=max(batch_size, 256), channels_last=channels_last, task=task)
            row["val_loss"] = val_loss
            if task == "binary" and 0 < labels.sum() < len(labels):
                from sklearn.metrics import roc_auc_score

                row["val_auc"] = float(roc_auc_score(labels, scores))
        rows.append(row)
        score = row[monitor] if val is not None else row["train_loss"]
        if best_score is None or (not np.isnan(score) and better(score, best_score)):
            best_score, best_epoch, bad_epochs = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        bar.set_postfix({k: f"{row[k]:.3f}" for k in ("train_loss", "val_loss", "val_auc") if not np.isnan(row[k])})
        if patience is not None and bad_epochs >= patience:
            log.info("early stopping at epoch %d (best %d)", epoch, best_epoch)
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FitResult(
        model=model,
        history=pd.DataFrame(rows),
        best_epoch=best_epoch,
        best_score=float(best_score) if best_score is not None else float("nan"),
        monitor=monitor if val is not None else "train_loss",
        device=str(device),
        amp_dtype=str(dtype).replace("torch.", "") if dtype is not None else None,
        channels_last=bool(channels_last),
        seconds=time.perf_counter() - start_all,
    )


def _evaluate(model, data, compute_loss, *, device, ctx, batch_size, channels_last, task):
    torch = _torch()
    model.eval()
    total = torch.zeros((), device=device)
    scores, labels = [], []
    with torch.no_grad():
        for xb, yb in _batches(data, batch_size=batch_size, shuffle=False, generator=None, device=device,
                               channels_last=channels_last):
            if ctx is not None:
                with ctx():
                    logits = model(xb)
            else:
                logits = model(xb)
            total += compute_loss(logits, yb) * len(yb)
            scores.append(_logits_to_scores(logits, task))
            labels.append(yb)
    n = _n_samples(data)
    # One transfer per validation pass, not per batch.
    return (float(total.item()) / n, torch.cat(scores).cpu().numpy(), torch.cat(labels).cpu().numpy())


def predict(model, data, *, device="auto", batch_size: int = 256, amp: bool = True,
            channels_last: bool | None = None, task: str = "binary") -> np.ndarray:
    """Scores for ``data`` (an array/tensor X, an (X, y) pair or a Dataset): the probability of the
    positive class for binary models, class probabilities (n, n_classes) for multiclass ones."""
    torch = _torch()
    from medai_lib.device import autocast_dtype, get_device

    device = get_device(device)
    if isinstance(data, (np.ndarray, torch.Tensor)):
        data = (data, np.zeros(len(data), dtype=np.float32))
    data = _check_xy(data, "data", task="multiclass" if task == "multiclass" else "binary") if isinstance(data, tuple) else data
    if isinstance(data, tuple):
        data = (data[0].to(device), data[1].to(device))
    if channels_last is None:
        channels_last = device.type == "cuda"
    model = model.to(device).eval()
    dtype = autocast_dtype(device) if amp else None
    out = []
    with torch.no_grad():
        for xb, _ in _batches(data, batch_size=batch_size, shuffle=False, generator=None, device=device,
                              channels_last=channels_last):
            if dtype is not None:
                with torch.autocast(device_type=device.type, dtype=dtype):
                    logits = model(xb)
            else:
                logits = model(xb)
            out.append(_logits_to_scores(logits, task))
    return torch.cat(out).cpu().numpy()


def raw_step_throughput(model, example_batch, *, steps: int = 20, warmup: int = 3, device="auto", amp: bool = True,
                        channels_last: bool | None = None, task: str = "binary") -> float:
    """Samples per second of bare AdamW training steps on one fixed device batch (no data pipeline).

    The reference for the training-loop benchmark: ``fit`` throughput divided by this, same model, device,
    precision, memory format and batch size, measured in the same run.
    """
    torch = _torch()
    from medai_lib.device import autocast_dtype, get_device

    device = get_device(device)
    if channels_last is None:
        channels_last = device.type == "cuda"
    xb = _as_tensor(example_batch, "example_batch", torch.float32).to(device)
    if channels_last and xb.ndim == 4:
        xb = xb.contiguous(memory_format=torch.channels_last)
        model = model.to(memory_format=torch.channels_last)
    model = model.to(device).train()
    yb = torch.zeros(len(xb), device=device) if task == "binary" else torch.zeros(len(xb), dtype=torch.long, device=device)
    loss_fn = torch.nn.BCEWithLogitsLoss() if task == "binary" else torch.nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    dtype = autocast_dtype(device) if amp else None

    def step():
        opt.zero_grad(set_to_none=True)
        if dtype is not None:
            with torch.autocast(device_type=device.type, dtype=dtype):
                logits = model(xb)
        else:
            logits = model(xb)
        out = logits.float().reshape(len(xb), -1)[:, -1] if task == "binary" else logits.float()
        loss_fn(out, yb).backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        # Steps queue asynchronously on a GPU: time them together, synchronised at both ends.
        torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        torch.cuda.synchronize(device)
        return steps * len(xb) / (time.perf_counter() - t0)
    # On a CPU each step runs to its end: the median step time is robust to other work on the cores
    # (a mean over a few steps swings several-fold on a shared machine).
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return len(xb) / float(np.median(times))
