"""Benchmark of fibrosis model training: loop efficiency, gap closed to the oracle, the shortcut lesson.

Measured side by side in one run:
- training throughput of the full loop (``fit``: batching on the device, augmentation, forward, backward,
  step) against the same model's raw training step on one fixed random batch
  (``medai_lib.training.raw_step_throughput``), same device, precision, memory format and batch size;
  on the CPU with the small CNN, and on CUDA (DenseNet121, 224 px, batch 128, bf16, channels-last) when a
  GPU is present;
- held-out (patient-level) AUC with 95% DeLong intervals of the lung-histogram baseline, the CNN and the
  oracle (latent severity), and the fraction of the baseline-to-oracle gap the CNN closes;
- the shortcut lesson: a model trained where the site marker predicts disease, tested internally and at an
  external cohort where it does not; the fix (blanking everything outside the lungs) and how much of the
  loss it recovers; Grad-CAM mass and the occlusion effect on the marker.

Run: ``.venv/bin/python bench/bench_fibrosis_training.py`` (writes bench/results/fibrosis_training.json and .md);
add ``--throughput-only`` to re-measure the loop/raw-step table alone (keeps the other results).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from medai_lib.evaluation import auc_delong
from medai_lib.fibrosis import (
    cam_mass,
    fit_fibrosis_model,
    grad_cam,
    lung_histogram_features,
    make_augmentation,
    make_fibrosis_cohort,
    make_model,
    marker_masks,
    marker_occlusion_effect,
    mask_outside_lungs,
    patient_split,
    predict_fibrosis,
    rebalance_sites,
)
from medai_lib.training import fit, raw_step_throughput

RESULTS = Path(__file__).resolve().parent / "results"


def throughput(kind, size, batch, device, n_images, epochs=3, repeats=3):
    """Full-loop and raw-step images per second for one model, measured back to back ``repeats`` times
    (interleaved, so that load from other processes on a shared machine hits both alike); medians."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n_images, 1, size, size)).astype("float32")
    y = (rng.random(n_images) < 0.3).astype("float32")
    raws, loops = [], []
    for _ in range(repeats):
        raws.append(raw_step_throughput(make_model(kind, random_state=0), x[:batch],
                                        steps=8 if device.type == "cpu" else 30, device=device))
        res = fit(make_model(kind, random_state=0), (x, y), None, epochs=epochs, batch_size=batch, device=device,
                  progress=False, augment=make_augmentation(random_state=0))
        loops.append(float(res.history["train_samples_per_s"].iloc[1:].median()))
    raw, loop = float(np.median(raws)), float(np.median(loops))
    ratios = [a / b for a, b in zip(loops, raws)]
    return {"model": kind, "image_size": size, "batch_size": batch, "device": str(device),
            "precision": res.amp_dtype or "float32", "channels_last": res.channels_last,
            "loop_img_per_s": round(loop, 1), "raw_step_img_per_s": round(raw, 1),
            "ratio": round(float(np.median(ratios)), 3), "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)]}


def auc_row(y, s):
    a = auc_delong(y, s)
    return {"auc": round(a.auc, 3), "ci": [round(a.ci_low, 3), round(a.ci_high, 3)]}


def gap_closing(n_patients, size, epochs, device, model="small"):
    t0 = time.perf_counter()
    c = make_fibrosis_cohort(n_patients, image_size=size, random_state=0)
    m = c.manifest
    split = patient_split(m, test_size=0.3, val_size=0.15, random_state=0)
    res = fit_fibrosis_model(c.images, m, split, model=model, image_size=size, epochs=epochs, device=device,
                             batch_size=32 if model == "small" else 128, random_state=0)
    test = (split == "test").to_numpy()
    y = m["label"].to_numpy()
    cnn = predict_fibrosis(res.model, c.images[test], image_size=size, device=device)
    feats = lung_histogram_features(c.images, c.lung_masks)
    base = LogisticRegression(max_iter=3000).fit(feats[~test], y[~test]).predict_proba(feats[test])[:, 1]
    out = {"model": model, "n_patients": n_patients, "image_size": size, "epochs": epochs, "n_test_images": int(test.sum()),
           "baseline": auc_row(y[test], base), "cnn": auc_row(y[test], cnn),
           "oracle": auc_row(y[test], m["severity"].to_numpy()[test])}
    out["gap_closed"] = round((out["cnn"]["auc"] - out["baseline"]["auc"])
                              / (out["oracle"]["auc"] - out["baseline"]["auc"]), 3)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def shortcut(n_patients, size, epochs, device):
    t0 = time.perf_counter()
    c = make_fibrosis_cohort(n_patients, image_size=size, site_shortcut=1.0, random_state=1)
    ext = make_fibrosis_cohort(n_patients // 2, image_size=size, site_shortcut=0.0, random_state=2)
    m = c.manifest
    split = patient_split(m, test_size=0.2, val_size=0.15, random_state=0)
    test = (split == "test").to_numpy()
    y, ye = m["label"].to_numpy(), ext.manifest["label"].to_numpy()
    site_a = (ext.manifest["site"] == "A").to_numpy()
    markers = marker_masks(ext.manifest, size)
    out = {"n_patients": n_patients, "image_size": size, "epochs": epochs,
           "prevalence_by_site": m.groupby("site")["label"].mean().round(3).to_dict()}
    masked, masked_ext = mask_outside_lungs(c.images, c.lung_masks), mask_outside_lungs(ext.images, ext.lung_masks)
    keep = rebalance_sites(m, method="oversample", random_state=0)
    for name, train_images, man, spl, ext_images in (
        ("shortcut", c.images, m, split, ext.images),
        ("masked", masked, m, split, masked_ext),
        ("masked + oversampled sites", masked[keep], m.iloc[keep].reset_index(drop=True),
         split.iloc[keep].reset_index(drop=True), masked_ext),
    ):
        res = fit_fibrosis_model(train_images, man, spl, image_size=size, epochs=epochs, device=device)
        internal = predict_fibrosis(res.model, masked[test] if name != "shortcut" else c.images[test],
                                    image_size=size, device=device)
        external = predict_fibrosis(res.model, ext_images, image_size=size, device=device)
        cams = grad_cam(res.model, ext.images[site_a], image_size=size, device=device)
        mass = cam_mass(cams, ext.lung_masks[site_a], markers[site_a]).median()
        occlusion = marker_occlusion_effect(res.model, ext.images[site_a], markers[site_a], image_size=size,
                                            device=device)
        out[name] = {"internal": auc_row(y[test], internal), "external": auc_row(ye, external),
                     "site_A_cam_lung_fraction": round(float(mass["lung_fraction"]), 3),
                     "site_A_cam_marker_to_lung_density": round(float(mass["marker_to_lung_density"]), 2),
                     "site_A_occlusion_effect": round(float(occlusion.mean()), 3)}
    out["oracle_external"] = auc_row(ye, ext.manifest["severity"].to_numpy())
    s = out["shortcut"]
    out["loss_at_external"] = round(s["internal"]["auc"] - s["external"]["auc"], 3)
    for name in ("masked", "masked + oversampled sites"):
        out[name]["recovered_fraction"] = round((out[name]["external"]["auc"] - s["external"]["auc"])
                                                / out["loss_at_external"], 3)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main():
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    cpu = torch.device("cpu")
    only_throughput = "--throughput-only" in sys.argv[1:]
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (torch threads "
                         f"{torch.get_num_threads()}, shared machine)",
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "torch": torch.__version__, "throughput": [], "gap_closing": [], "shortcut": None}
    for size, batch in ((64, 32), (128, 32)):
        result["throughput"].append(throughput("small", size, batch, cpu, n_images=512))
        print(result["throughput"][-1], flush=True)
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        result["throughput"].append(throughput("densenet121", 224, 128, gpu, n_images=2048))
        if not only_throughput:
            result["gap_closing"].append(gap_closing(1000, 224, 30, gpu, model="densenet121"))
    if only_throughput and (RESULTS / "fibrosis_training.json").is_file():
        # Re-measure the loop ratio only; keep the (slow) AUC results of the last full run.
        previous = json.loads((RESULTS / "fibrosis_training.json").read_text())
        result["gap_closing"], result["shortcut"] = previous["gap_closing"], previous["shortcut"]
        (RESULTS / "fibrosis_training.json").write_text(json.dumps(result, indent=2))
        (RESULTS / "fibrosis_training.md").write_text(markdown(result))
        return
    for n, size, epochs in ((600, 64, 20), (600, 128, 15)):
        result["gap_closing"].append(gap_closing(n, size, epochs, cpu))
        print(result["gap_closing"][-1], flush=True)
    result["shortcut"] = shortcut(600, 64, 15, cpu)
    print(result["shortcut"], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fibrosis_training.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "fibrosis_training.md").write_text(markdown(result))


def markdown(r):
    lines = ["# Fibrosis training benchmark", "",
             f"Machine: {r['machine']}; GPU: {r['gpu'] or 'none'}; torch {r['torch']}. Generated by "
             "`bench/bench_fibrosis_training.py`.", "",
             "## Training loop against the raw training step (same model, device, precision, memory format, batch)",
             "", "Medians of three interleaved repeats (range of the ratio in brackets). `--throughput-only` re-measures "
             "this table alone.", "",
             "| model | device | image size | batch | precision | channels-last | full loop (img/s) | raw step (img/s) | ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for t in r["throughput"]:
        lines.append(f"| {t['model']} | {t['device']} | {t['image_size']} | {t['batch_size']} | {t['precision']} | "
                     f"{t['channels_last']} | {t['loop_img_per_s']} | {t['raw_step_img_per_s']} | {t['ratio']} "
                     f"({t['ratio_range'][0]} to {t['ratio_range'][1]}) |")
    if r["gpu"] is None:
        lines.append("\nGPU (DenseNet121, 224 px, batch 128, bf16 + channels-last): not measured (no GPU on this machine).")
    lines += ["", "## Gap closed between the lung-histogram baseline and the oracle (held-out patients, AUC with 95% DeLong CI)",
              "", "| model / size | patients | epochs | test images | baseline | CNN | oracle | gap closed |",
              "|---|---|---|---|---|---|---|---|"]
    for g in r["gap_closing"]:
        cell = lambda a: f"{a['auc']} ({a['ci'][0]} to {a['ci'][1]})"  # noqa: E731
        lines.append(f"| {g['model']}, {g['image_size']} px | {g['n_patients']} | {g['epochs']} | {g['n_test_images']} | "
                     f"{cell(g['baseline'])} | {cell(g['cnn'])} | {cell(g['oracle'])} | {g['gap_closed']:.0%} |")
    if r["gpu"] is None:
        lines.append("\nGPU full mode (DenseNet121 at 224 px, default cohort): not measured.")
    s = r["shortcut"]
    cell = lambda a: f"{a['auc']} ({a['ci'][0]} to {a['ci'][1]})"  # noqa: E731
    lines += ["", f"## Shortcut lesson ({s['n_patients']} patients, {s['image_size']} px, {s['epochs']} epochs, CPU)", "",
              f"Prevalence by site in training: {s['prevalence_by_site']}; external cohort: sites independent of disease "
              f"(oracle AUC {cell(s['oracle_external'])}).", "",
              "| model | internal test AUC | external AUC | Grad-CAM lung fraction (site A) | marker/lung CAM density (site A) | occlusion effect (site A) |",
              "|---|---|---|---|---|---|"]
    for name in ("shortcut", "masked", "masked + oversampled sites"):
        m = s[name]
        lines.append(f"| {name} | {cell(m['internal'])} | {cell(m['external'])} | {m['site_A_cam_lung_fraction']} | "
                     f"{m['site_A_cam_marker_to_lung_density']} | {m['site_A_occlusion_effect']:+.3f} |")
    lines += ["", f"Loss at the external site (internal minus external AUC of the shortcut model): "
              f"{s['loss_at_external']:.3f}. Recovered by masking to the lungs: "
              f"{s['masked']['recovered_fraction']:.0%}; by masking and oversampling sites to one prevalence: "
              f"{s['masked + oversampled sites']['recovered_fraction']:.0%}.",
              "", "Grad-CAM and occlusion are measured on the unmasked external site-A images for every model.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
