"""Benchmark of fibrosis model training: loop efficiency, gap closed to the oracle, the shortcut lesson.

Measured side by side in one run:
- training throughput of the full loop (``fit``: batching on the device, augmentation, forward, backward,
  step) against the same model's raw training step on one fixed random batch
  (``medai_lib.training.raw_step_throughput``), same device, precision, memory format and batch size;
  on the CPU with the small CNN, and on CUDA (DenseNet121, 224 px, batch 128, bf16, channels-last) when a
  GPU is present;
- held-out (patient-level) AUC with 95% DeLong intervals of the lung-histogram baseline, the CNN and the
  oracle (latent severity), and the fraction of the baseline-to-oracle gap the CNN closes;
- the shortcut lesson: a model trained where the site predicts disease (burned-in letter, and the site's
  exposure, processing, grain and sharpening inside the lungs), tested internally and at an external cohort
  where the site does not predict disease; the fixes (masking to the lungs; masking and oversampling sites;
  masking and a lung z-score; harmonising the lungs with ``standardise_lungs``: smoothing, grey-level
  equalisation within the lung mask, masking) and how much of the external loss each recovers, per training
  seed and on average; how well the site can still be identified from the lung pixels; Grad-CAM mass and
  the occlusion effect on the marker.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/bench_fibrosis_training.py`` (writes
bench/results/fibrosis_training.json and .md); ``--throughput-only`` re-measures the loop/raw-step table alone
and ``--shortcut-only`` the shortcut lesson alone (each keeps the other results of the last run).
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

from medai_lib.evaluation import auc_delong, compare_aucs
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
    site_identification_accuracy,
    standardise_lungs,
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
                             batch_size=32 if model == "small" else 128, random_state=0, progress=False)
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


#: Training seeds of the shortcut lesson (same cohorts and split; the seed sets initial weights, batches and
#: augmentation): the recovery is reported per seed and averaged, since one training run is noisy.
SHORTCUT_SEEDS = (0, 1, 2)

#: The models of the shortcut lesson, in table order; the last is the recommended fix.
SHORTCUT_MODELS = ("shortcut", "masked", "masked + oversampled sites", "masked + lung z-score (no smoothing)",
                   "harmonised lungs (smoothed + equalised)")


def shortcut(n_patients, size, epochs, device, seeds=SHORTCUT_SEEDS):
    t0 = time.perf_counter()
    c = make_fibrosis_cohort(n_patients, image_size=size, site_shortcut=1.0, random_state=1)
    ext = make_fibrosis_cohort(n_patients // 2, image_size=size, site_shortcut=0.0, random_state=2)
    m = c.manifest
    split = patient_split(m, test_size=0.2, val_size=0.15, random_state=0)
    test = (split == "test").to_numpy()
    y, ye = m["label"].to_numpy(), ext.manifest["label"].to_numpy()
    site_a = (ext.manifest["site"] == "A").to_numpy()
    markers = marker_masks(ext.manifest, size)
    # Grad-CAM of the small CNN is an 8 x 8 map at 64 px: count the lungs with their borders (widened by
    # size // 16 pixels) as "the lungs".
    from scipy.ndimage import binary_dilation

    lungs_wide = binary_dilation(ext.lung_masks, np.ones((1, 3, 3), bool), iterations=size // 16)
    out = {"n_patients": n_patients, "image_size": size, "epochs": epochs, "seeds": list(seeds),
           "prevalence_by_site": m.groupby("site")["label"].mean().round(3).to_dict(),
           "oracle_external": auc_row(ye, ext.manifest["severity"].to_numpy()), "models": {}}
    # Each model's view of the training and external images (the same transform for both).
    views = {
        "shortcut": (c.images, ext.images),
        "masked": (mask_outside_lungs(c.images, c.lung_masks), mask_outside_lungs(ext.images, ext.lung_masks)),
        "masked + lung z-score (no smoothing)": (
            standardise_lungs(c.images, c.lung_masks, method="zscore", smoothing=0),
            standardise_lungs(ext.images, ext.lung_masks, method="zscore", smoothing=0)),
        "harmonised lungs (smoothed + equalised)": (standardise_lungs(c.images, c.lung_masks),
                                                    standardise_lungs(ext.images, ext.lung_masks)),
    }
    views["masked + oversampled sites"] = views["masked"]
    keep = rebalance_sites(m, method="oversample", random_state=0)
    scores = {}  # (model, seed) -> external scores, for the paired comparisons
    for name in SHORTCUT_MODELS:
        train_images, ext_images = views[name]
        man, spl = m, split
        if name == "masked + oversampled sites":
            train_images, man, spl = (train_images[keep], m.iloc[keep].reset_index(drop=True),
                                      split.iloc[keep].reset_index(drop=True))
        site_id = site_identification_accuracy(ext_images, ext.lung_masks, ext.manifest["site"])
        row = {"site_identification_accuracy": round(site_id.accuracy, 3), "site_chance": round(site_id.chance, 3),
               "per_seed": []}
        for seed in seeds:
            res = fit_fibrosis_model(train_images, man, spl, image_size=size, epochs=epochs, device=device,
                                     random_state=seed, progress=False)
            internal = predict_fibrosis(res.model, views[name][0][test], image_size=size, device=device)
            external = predict_fibrosis(res.model, ext_images, image_size=size, device=device)
            scores[name, seed] = external
            # Explanations on the external site-A images as this model sees them.
            cams = grad_cam(res.model, ext_images[site_a], image_size=size, device=device)
            mass = cam_mass(cams, lungs_wide[site_a], markers[site_a]).median()
            occlusion = marker_occlusion_effect(res.model, ext_images[site_a], markers[site_a], image_size=size,
                                                device=device)
            row["per_seed"].append({
                "seed": seed, "internal": auc_row(y[test], internal), "external": auc_row(ye, external),
                "site_A_cam_lung_fraction": round(float(mass["lung_fraction"]), 3),
                "site_A_cam_marker_to_lung_density": round(float(mass["marker_to_lung_density"]), 2),
                "site_A_occlusion_effect": round(float(occlusion.mean()), 3)})
            print(name, row["per_seed"][-1], flush=True)
        out["models"][name] = row
    short = out["models"]["shortcut"]["per_seed"]
    losses = [s["internal"]["auc"] - s["external"]["auc"] for s in short]
    out["loss_at_external"] = [round(v, 3) for v in losses]
    out["loss_at_external_mean"] = round(float(np.mean(losses)), 3)
    for name in SHORTCUT_MODELS:
        row = out["models"][name]
        for key in ("internal", "external"):
            values = [s[key]["auc"] for s in row["per_seed"]]
            row[f"{key}_auc_mean"] = round(float(np.mean(values)), 3)
            row[f"{key}_auc_range"] = [min(values), max(values)]
        for key in ("site_A_cam_lung_fraction", "site_A_cam_marker_to_lung_density", "site_A_occlusion_effect"):
            row[f"{key}_mean"] = round(float(np.mean([s[key] for s in row["per_seed"]])), 3)
        if name != "shortcut":
            # Recovery per seed: against the shortcut model trained with the same seed.
            rec = [(s["external"]["auc"] - b["external"]["auc"]) / loss
                   for s, b, loss in zip(row["per_seed"], short, losses)]
            row["recovered_fraction"] = [round(v, 3) for v in rec]
            row["recovered_fraction_mean"] = round(float(np.mean(rec)), 3)
    # Paired external comparisons (same external images; whole patients resampled: two images each).
    fix = SHORTCUT_MODELS[-1]
    out["paired_external"] = []
    for other in ("shortcut", "masked"):
        for seed in seeds:
            cmp = compare_aucs(ye, scores[fix, seed], scores[other, seed], method="bootstrap", n_bootstrap=2000,
                               clusters=ext.manifest["patient_id"].to_numpy(), random_state=0)
            out["paired_external"].append({"model": fix, "against": other, "seed": seed,
                                           "difference": round(cmp.difference, 3),
                                           "ci": [round(cmp.ci_low, 3), round(cmp.ci_high, 3)]})
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main():
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    cpu = torch.device("cpu")
    only_throughput = "--throughput-only" in sys.argv[1:]
    only_shortcut = "--shortcut-only" in sys.argv[1:]
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return 0
    previous = None
    if (only_throughput or only_shortcut) and (RESULTS / "fibrosis_training.json").is_file():
        previous = json.loads((RESULTS / "fibrosis_training.json").read_text())
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (torch threads "
                         f"{torch.get_num_threads()}, shared machine)",
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "torch": torch.__version__, "throughput": [], "gap_closing": [], "shortcut": None}
    if only_shortcut and previous is not None:
        # Re-run the shortcut lesson alone; keep the throughput and gap results of the last full run.
        result["throughput"], result["gap_closing"] = previous["throughput"], previous["gap_closing"]
        result["machine"], result["gpu"] = previous["machine"], previous["gpu"]
        result["shortcut"] = shortcut(600, 64, 15, cpu)
        write(result)
        return 0
    for size, batch in ((64, 32), (128, 32)):
        result["throughput"].append(throughput("small", size, batch, cpu, n_images=512))
        print(result["throughput"][-1], flush=True)
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        result["throughput"].append(throughput("densenet121", 224, 128, gpu, n_images=2048))
        if not only_throughput:
            result["gap_closing"].append(gap_closing(1000, 224, 30, gpu, model="densenet121"))
    if only_throughput and previous is not None:
        # Re-measure the loop ratio only; keep the (slow) AUC results of the last full run.
        result["gap_closing"], result["shortcut"] = previous["gap_closing"], previous["shortcut"]
        write(result)
        return 0
    for n, size, epochs in ((600, 64, 20), (600, 128, 15)):
        result["gap_closing"].append(gap_closing(n, size, epochs, cpu))
        print(result["gap_closing"][-1], flush=True)
    result["shortcut"] = shortcut(600, 64, 15, cpu)
    write(result)
    return 0


def write(result):
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
    n_seeds = len(s["seeds"])
    rng = lambda v: f"{v[0]} to {v[1]}"  # noqa: E731
    lines += ["", f"## Shortcut lesson ({s['n_patients']} patients, {s['image_size']} px, {s['epochs']} epochs, CPU, "
              f"{n_seeds} training seeds)", "",
              f"Prevalence by site in training: {s['prevalence_by_site']}; external cohort: sites independent of disease "
              f"(oracle AUC {cell(s['oracle_external'])}). Every model is trained {n_seeds} times (seeds "
              f"{', '.join(map(str, s['seeds']))}: initial weights, batches, augmentation) on the same cohorts and split. "
              "Recovered = (external AUC of the model - external AUC of the shortcut model) / (internal - external AUC "
              "of the shortcut model), each against the shortcut model of the same seed.", "",
              f"| model | internal AUC, seed {s['seeds'][0]} (95% CI) | external AUC, seed {s['seeds'][0]} (95% CI) | "
              f"internal AUC, mean (range) | external AUC, mean (range) | recovered, per seed | recovered, mean |",
              "|---|---|---|---|---|---|---|"]
    for name, m in s["models"].items():
        first = m["per_seed"][0]
        rec = ("-", "-") if name == "shortcut" else (
            ", ".join(f"{v:.0%}" for v in m["recovered_fraction"]), f"**{m['recovered_fraction_mean']:.0%}**")
        lines.append(f"| {name} | {cell(first['internal'])} | {cell(first['external'])} | "
                     f"{m['internal_auc_mean']} ({rng(m['internal_auc_range'])}) | "
                     f"{m['external_auc_mean']} ({rng(m['external_auc_range'])}) | {rec[0]} | {rec[1]} |")
    lines += ["", f"Loss at the external site (internal minus external AUC of the shortcut model), per seed: "
              f"{', '.join(f'{v:.3f}' for v in s['loss_at_external'])} (mean {s['loss_at_external_mean']:.3f}).", ""]
    if s.get("paired_external"):
        lines += ["Paired external AUC differences (same external images, 95% paired bootstrap interval resampling "
                  "whole patients), per seed:", ""]
        for against in dict.fromkeys(c["against"] for c in s["paired_external"]):
            rows = [c for c in s["paired_external"] if c["against"] == against]
            lines.append(f"- {rows[0]['model']} minus {against}: " + "; ".join(
                f"seed {c['seed']}: {c['difference']:+.3f} ({c['ci'][0]:+.3f} to {c['ci'][1]:+.3f})" for c in rows))
        lines.append("")
    lines += [
              "Where each model could still find the site, and where it looks (means over the seeds). Site identified "
              "from the lungs: 5-fold cross-validated accuracy of a logistic regression on grey-level, grain and "
              "sharpness statistics of the lung pixels of the external images as the model sees them "
              "(`site_identification_accuracy`). Grad-CAM and occlusion: external site-A images as the model sees "
              "them; the lung fraction counts the lungs widened by 4 px (Grad-CAM is an 8 x 8 map at 64 px). For the "
              "masked models the letter is blanked, so their occlusion effect is zero by construction and their "
              "marker CAM density only reflects how coarse Grad-CAM is (each map is scaled to its own range; the "
              "values vary from seed to seed: see the JSON).",
              "", "| model | site identified from the lungs (chance) | Grad-CAM fraction on the lungs + 4 px (site A) | "
              "marker/lung CAM density (site A) | occlusion effect (site A) |", "|---|---|---|---|---|"]
    for name, m in s["models"].items():
        lines.append(f"| {name} | {m['site_identification_accuracy']:.0%} ({m['site_chance']:.0%}) | "
                     f"{m['site_A_cam_lung_fraction_mean']:.2f} | {m['site_A_cam_marker_to_lung_density_mean']:.2f} | "
                     f"{m['site_A_occlusion_effect_mean']:+.3f} |")
    lines += ["", "The generator's sites differ in exposure, processing curve (gamma), edge enhancement and grain, as "
              "real sites do; its images are rendered at 64 px directly, so the grain is at full strength (a real "
              "radiograph downsampled to 64 px would lose most of its grain, not its processing curve or "
              "sharpening).", "", f"Shortcut section: {s['seconds']:.0f} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
