"""Benchmark of medai_lib.evaluation: speed of `evaluate` against a per-replicate scikit-learn loop, and
coverage of the 95% DeLong and bootstrap AUC intervals on simulated binormal data with a known AUC.

Run: .venv/bin/python bench/bench_evaluation.py [--quick]
Writes bench/results/evaluation.json and bench/results/evaluation.md.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # one CPU core, set before numpy is imported

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from medai_lib.evaluation import auc_bootstrap, auc_delong, evaluate, make_binormal

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def sklearn_loop(y, p, n_bootstrap, seed):
    """The straightforward approach: resample indices per replicate, call roc_auc_score each time."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    out = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        out[b] = roc_auc_score(y[idx], p[idx])
    return np.quantile(out, [0.025, 0.975])


def speed(n_cases=10_000, n_bootstrap=2000):
    y, s = make_binormal(n_cases * 3 // 10, n_cases - n_cases * 3 // 10, auc=0.8, random_state=0)
    p = 1 / (1 + np.exp(-(s - 1)))
    evaluate(y[::20], p[::20], n_bootstrap=200)  # warm-up (imports, caches)
    t_eval = best_of(lambda: evaluate(y, p, n_bootstrap=n_bootstrap, random_state=0), 3)
    t_auc = best_of(lambda: auc_bootstrap(y, p, n_bootstrap=n_bootstrap, random_state=0), 3)
    t_sklearn = best_of(lambda: sklearn_loop(y, p, n_bootstrap, 0), 1)
    return {
        "n_cases": n_cases, "n_bootstrap": n_bootstrap,
        "evaluate_s": t_eval, "auc_bootstrap_s": t_auc, "sklearn_loop_s": t_sklearn,
        "ratio_sklearn_loop_over_evaluate": t_sklearn / t_eval,
        "ratio_sklearn_loop_over_auc_bootstrap": t_sklearn / t_auc,
        "evaluate_under_1s": t_eval < 1.0,
    }


def coverage(n_sets=1000, n_pos=100, n_neg=100, true_auc=0.8, n_bootstrap=2000, seed=2024):
    rng = np.random.default_rng(seed)
    hits = {"delong": 0, "delong_logit": 0, "bootstrap": 0}
    width = {"delong": 0.0, "delong_logit": 0.0, "bootstrap": 0.0}
    start = time.perf_counter()
    for _ in range(n_sets):
        y, s = make_binormal(n_pos, n_neg, auc=true_auc, random_state=rng)
        for name, est in (("delong", auc_delong(y, s)), ("delong_logit", auc_delong(y, s, scale="logit")),
                          ("bootstrap", auc_bootstrap(y, s, n_bootstrap=n_bootstrap, random_state=rng))):
            hits[name] += est.ci_low <= true_auc <= est.ci_high
            width[name] += (est.ci_high - est.ci_low) / n_sets
    cov = {k: v / n_sets for k, v in hits.items()}
    mc_se = float(np.sqrt(0.95 * 0.05 / n_sets))
    return {
        "n_sets": n_sets, "n_positive": n_pos, "n_negative": n_neg, "true_auc": true_auc,
        "n_bootstrap_per_set": n_bootstrap, "nominal": 0.95, "monte_carlo_se": mc_se,
        "coverage_delong": cov["delong"], "coverage_delong_logit": cov["delong_logit"],
        "coverage_bootstrap": cov["bootstrap"],
        "mean_width_delong": width["delong"], "mean_width_bootstrap": width["bootstrap"],
        "within_93_97": {k: 0.93 <= v <= 0.97 for k, v in cov.items()}, "seconds": time.perf_counter() - start,
    }


def main(quick=False):
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores visible, 1 thread used"
    result = {"machine": machine, "python": sys.version.split()[0], "numpy": np.__version__,
              "speed": speed(), "coverage": [coverage(n_sets=200 if quick else 1000),
                                             coverage(n_sets=200 if quick else 1000, n_pos=40, n_neg=160,
                                                      true_auc=0.9)]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "evaluation.json").write_text(json.dumps(result, indent=2))
    sp = result["speed"]
    lines = [
        "# Evaluation benchmark", "",
        f"Machine: {machine}. Produced by `bench/bench_evaluation.py`.", "",
        f"## Speed ({sp['n_cases']:,} cases, {sp['n_bootstrap']:,} stratified bootstrap replicates, best of 3)", "",
        "| what | seconds |", "|---|---|",
        f"| `evaluate` (DeLong + bootstrap AUC, ROC band, threshold metrics, calibration, DCA) | {sp['evaluate_s']:.3f} |",
        f"| `auc_bootstrap` alone | {sp['auc_bootstrap_s']:.3f} |",
        f"| per-replicate loop of `sklearn.metrics.roc_auc_score` (AUC only) | {sp['sklearn_loop_s']:.2f} |", "",
        f"Ratio loop / `evaluate`: **{sp['ratio_sklearn_loop_over_evaluate']:.0f}x**; loop / `auc_bootstrap`: "
        f"**{sp['ratio_sklearn_loop_over_auc_bootstrap']:.0f}x**. Under one second: {sp['evaluate_under_1s']}.", "",
        "## Coverage of 95% AUC intervals (binormal data, known AUC)", "",
        "| data sets | diseased / healthy | true AUC | bootstrap replicates | DeLong | DeLong (logit) | bootstrap | mean width DeLong / bootstrap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in result["coverage"]:
        lines.append(f"| {c['n_sets']} | {c['n_positive']} / {c['n_negative']} | {c['true_auc']} | "
                     f"{c['n_bootstrap_per_set']} | {c['coverage_delong']:.1%} | {c['coverage_delong_logit']:.1%} | "
                     f"{c['coverage_bootstrap']:.1%} | "
                     f"{c['mean_width_delong']:.3f} / {c['mean_width_bootstrap']:.3f} |")
    lines += ["", f"Monte Carlo standard error of a coverage estimate at 95% with 1,000 sets: "
                  f"{np.sqrt(0.95 * 0.05 / 1000):.1%}. Target: 93-97%.", ""]
    (RESULTS / "evaluation.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
