"""Benchmark of the fibrosis data side: generation speed against training a small CNN, I/O, difficulty.

Measured side by side in one run, on the same device, image size and batch size:
- images per second of cohort generation (rendering, markers, ground truth),
- images per second of training a small CNN (forward, backward, optimiser step) on those images,
- their ratio (generation must be faster than training: ratio > 1),
- DICOM write and read-back throughput,
- the default cohort's oracle AUC and the lung-histogram logistic-regression baseline;
- how the simulated readers label obvious and borderline images (agreement by true severity).

Run: ``.venv/bin/python bench/bench_fibrosis.py`` (writes bench/results/fibrosis.json and fibrosis.md).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict

from medai_lib.fibrosis import (
    lung_histogram_features,
    make_fibrosis_cohort,
    make_fibrosis_manifest,
    read_fibrosis_cohort,
    write_fibrosis_dicom,
)

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 32


def small_cnn():
    """A small CNN of the kind the course trains first (4 conv blocks, global pooling, one logit)."""
    layers, c_in = [], 1
    for c_out in (16, 32, 64, 64):
        layers += [torch.nn.Conv2d(c_in, c_out, 3, padding=1), torch.nn.BatchNorm2d(c_out), torch.nn.ReLU(),
                   torch.nn.MaxPool2d(2)]
        c_in = c_out
    head = [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(c_in, 1)]
    return torch.nn.Sequential(*layers, *head)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_generation(n_patients, size, device, repeats=2):
    best = np.inf
    for r in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        cohort = make_fibrosis_cohort(n_patients, image_size=size, n_visits=1, batch_size=BATCH,
                                      random_state=100 + r, device=device)
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return len(cohort) / best, cohort


def time_training(cohort, device, n_steps=6):
    torch.manual_seed(0)
    model = small_cnn().to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_all = torch.as_tensor(cohort.images[:, None]).to(device)
    y_all = torch.tensor(cohort.manifest["label"].to_numpy(dtype=np.float32)).to(device)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(i):
        idx = torch.arange(i * BATCH, (i + 1) * BATCH, device=device) % len(x_all)
        x = x_all[idx].contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x)[:, 0], y_all[idx])
        loss.backward()
        opt.step()

    step(0)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    for i in range(1, n_steps + 1):
        step(i)
    sync(device)
    return n_steps * BATCH / (time.perf_counter() - t0)


def histogram_baseline(cohort):
    m = cohort.manifest
    features = lung_histogram_features(cohort.images, cohort.lung_masks)
    proba = cross_val_predict(LogisticRegression(max_iter=2000), features, m["label"], groups=m["patient_id"],
                              cv=GroupKFold(5), method="predict_proba")[:, 1]
    return float(roc_auc_score(m["label"], proba))


def reader_realism(n_patients: int = 3000, random_state: int = 0) -> dict:
    """How the simulated readers label obvious and borderline images (a large manifest, no rendering)."""
    m = make_fibrosis_manifest(n_patients, random_state=random_state)
    readers = m[[c for c in m.columns if c.startswith("reader_")]].to_numpy()
    disagree = readers.min(axis=1) != readers.max(axis=1)
    obvious = m["severity"].between(0.70, 0.85).to_numpy()
    bands = [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0)]
    return {
        "n_images": len(m),
        "obvious_0.70_0.85_labelled_no": round(float((m["label"].to_numpy()[obvious] == 0).mean()), 4),
        "obvious_0.70_0.85_all_readers_no": round(float((readers[obvious].sum(axis=1) == 0).mean()), 4),
        "disagreement_by_severity": {f"{lo:.1f}-{hi:.1f}": round(float(disagree[
            m["severity"].between(lo, hi, inclusive="left").to_numpy()].mean()), 3) for lo, hi in bands},
        "kappa_reader_1_2": round(float(cohen_kappa_score(m["reader_1"], m["reader_2"])), 3),
    }


def main(threads: int = 1) -> dict:
    # The 2-core machine is shared: one thread per process gives stable, comparable numbers (as in CI).
    torch.set_num_threads(threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "python": sys.version.split()[0],
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                    "load_average_at_start": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None},
        "batch_size": BATCH,
        "speed": [],
    }
    for device in devices:
        for size in (128, 256):
            n = 64 if device.type == "cpu" else 512
            gen_rate, cohort = time_generation(n, size, device)
            train_rate = time_training(cohort, device)
            row = {"device": device.type, "image_size": size, "generation_images_per_s": round(gen_rate, 1),
                   "training_images_per_s": round(train_rate, 1),
                   "generation_over_training": round(gen_rate / train_rate, 2)}
            print(row, flush=True)
            result["speed"].append(row)

    cohort = make_fibrosis_cohort(40, image_size=256, random_state=0)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_fibrosis_dicom(cohort, tmp)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        read_fibrosis_cohort(tmp)
        t_read = time.perf_counter() - t0
    result["dicom_io_256px"] = {"write_images_per_s": round(len(cohort) / t_write, 1),
                                "read_images_per_s": round(len(cohort) / t_read, 1)}
    print(result["dicom_io_256px"], flush=True)

    default = make_fibrosis_manifest()
    oracles = [roc_auc_score(m["label"], m["severity"])
               for m in (make_fibrosis_manifest(random_state=s) for s in range(20))]
    t0 = time.perf_counter()
    big = make_fibrosis_cohort(300, image_size=256, random_state=0)
    t_big = time.perf_counter() - t0
    hist_auc = histogram_baseline(big)
    result["difficulty"] = {
        "default_cohort_oracle_auc": round(float(roc_auc_score(default["label"], default["severity"])), 3),
        "default_size_oracle_auc_over_20_seeds": {
            "min": round(min(oracles), 3), "max": round(max(oracles), 3),
            "mean": round(float(np.mean(oracles)), 3),
            "n_in_0.91_0.98": int(sum(0.91 <= a <= 0.98 for a in oracles)),
        },
        "cohort_for_baseline": {"n_patients": 300, "n_images": len(big), "image_size": 256,
                                "seconds_to_generate": round(t_big, 1)},
        "oracle_auc": round(big.oracle_auc, 3),
        "histogram_logreg_auc": round(hist_auc, 3),
        "gap": round(big.oracle_auc - hist_auc, 3),
        "prevalence": round(float(big.manifest["label"].mean()), 3),
        "readers": reader_realism(),
    }
    print(result["difficulty"], flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fibrosis.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Fibrosis data benchmark",
        "",
        f"Machine: {result['machine']['processor']}, {result['machine']['cpu_count']} CPU cores "
        f"(torch threads {result['machine']['torch_threads']}, shared machine), "
        f"GPU: {result['machine']['gpu'] or 'none'}; "
        f"torch {result['machine']['torch']}. Batch size {BATCH}. Generated by `bench/bench_fibrosis.py`. "
        f"Load average at the start: {result['machine'].get('load_average_at_start')} (the machine is shared: "
        "absolute speeds follow the load; the generation / training ratio is the result).",
        "",
        "| device | image size | generation (img/s) | small-CNN training (img/s) | generation / training |",
        "|---|---|---|---|---|",
    ]
    for r in result["speed"]:
        lines.append(f"| {r['device']} | {r['image_size']} | {r['generation_images_per_s']} | "
                     f"{r['training_images_per_s']} | {r['generation_over_training']} |")
    d, io = result["difficulty"], result["dicom_io_256px"]
    seeds = d["default_size_oracle_auc_over_20_seeds"]
    lines += [
        "",
        f"DICOM at 256 px: write {io['write_images_per_s']} img/s, read back (with manifest checks) "
        f"{io['read_images_per_s']} img/s.",
        "",
        "## Difficulty",
        "",
        f"- Default cohort (200 patients x 2 visits, seed 0): oracle AUC {d['default_cohort_oracle_auc']}; "
        f"over seeds 0-19 {seeds['min']} to {seeds['max']} (mean {seeds['mean']}; "
        f"{seeds['n_in_0.91_0.98']} of 20 in [0.91, 0.98], the band the tests hold).",
        f"- 300 patients x 2 visits at 256 px (prevalence {d['prevalence']}): oracle AUC {d['oracle_auc']}, "
        f"logistic regression on lung-field intensity histograms (5-fold, grouped by patient) "
        f"{d['histogram_logreg_auc']}: {d['gap']} below the oracle.",
        f"- Readers ({d['readers']['n_images']} images, seed 0): of the images of severity 0.70 to 0.85 "
        f"(bibasal honeycombing), {d['readers']['obvious_0.70_0.85_labelled_no']:.1%} labelled no fibrosis by "
        f"the majority and {d['readers']['obvious_0.70_0.85_all_readers_no']:.1%} by all three; share of images "
        "on which the readers disagree, by true severity: "
        + ", ".join(f"{k}: {v:.0%}" for k, v in d["readers"]["disagreement_by_severity"].items())
        + f" (label threshold 0.5); Cohen's kappa between two readers {d['readers']['kappa_reader_1_2']}.",
        "",
    ]
    (RESULTS / "fibrosis.md").write_text("\n".join(lines))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
