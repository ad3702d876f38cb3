"""Cancer-track benchmark: simulate 5,000 people, QC, PCA, GWAS (confounded and PC-corrected), PRS against
the Daetwyler expectation, and file round trips (VCF, zarr). Writes bench/results/cancer.json and .md and
docs/figures/cancer_gwas.png.

Run: .venv/bin/python bench/bench_cancer.py [--n 5000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from medai_lib.cancer import (  # noqa: E402
    clump, daetwyler_expected_r2, distance_to_causal, effective_number_of_segments,
    fit_clumping_thresholding, fit_penalised_prs, genetic_pca, genomic_inflation, ld_prune,
    make_cancer_cohort, plot_gwas_summary, polygenic_score, qc_filter, read_vcf, read_zarr, run_gwas,
    sample_qc, variant_qc, vcf_to_zarr, write_vcf,
)

ROOT = Path(__file__).resolve().parents[1]


class Timer:
    def __init__(self):
        self.times = {}

    def __call__(self, name):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                timer.times[name] = round(time.perf_counter() - self.t0, 2)
                print(f"{name}: {timer.times[name]:.2f} s", flush=True)

        return _Ctx()


def main(n_individuals: int, files: bool) -> dict:
    timer = Timer()
    with timer("simulate_s"):
        cohort = make_cancer_cohort(n_individuals, random_state=0)
    g, variants, samples, truth = cohort.genotypes, cohort.variants, cohort.samples, cohort.truth
    groups = samples["ancestry_group"].to_numpy()
    print(g.shape, flush=True)

    with timer("qc_s"):
        vq = variant_qc(g, groups=groups)
        sq = sample_qc(g)
        qc = qc_filter(vq, sq)
    vmask, smask = qc.variant_mask, qc.sample_mask
    gq = g[vmask][:, smask]
    vq_variants = variants[vmask].reset_index(drop=True)
    samples_q = samples[smask].reset_index(drop=True)
    groups_q = groups[smask]
    liability = truth.liability[smask]
    polygenic = truth.polygenic_liability[smask]
    case = samples_q["case"].to_numpy()

    with timer("ld_prune_pca_s"):
        pruned = ld_prune(gq, vq_variants)
        pca = genetic_pca(gq, n_components=10, variant_mask=pruned, random_state=0)
    pcs = pca.components[:, :5]

    g_all = g[:, smask]
    with timer("gwas_all_snps_linear_s"):
        run_gwas(g_all, liability, covariates=pcs, method="linear")
    with timer("gwas_all_snps_logistic_s"):
        run_gwas(g_all, case, covariates=pcs, method="logistic")
    del g_all

    dist = distance_to_causal(variants, np.r_[truth.causal_index, truth.rare_index])[vmask]
    far = dist >= 1e6
    res = {}
    for name, method, y in (("case_logistic", "logistic", case), ("liability_linear", "linear", liability)):
        raw = run_gwas(gq, y, method=method)
        adj = run_gwas(gq, y, covariates=pcs, method=method)
        res[name] = (raw, adj)
    lam = {f"lambda_{k}_{t}": round(genomic_inflation(r[i]["p"].to_numpy()[far]), 3)
           for k, r in res.items() for i, t in ((0, "uncorrected"), (1, "pc_corrected"))}

    # PRS: train, validate and test inside the largest genetic ancestry group; also test in the other group.
    rng = np.random.default_rng(1)
    a = np.flatnonzero(groups_q == "group_A")
    b = np.flatnonzero(groups_q != "group_A")
    a = rng.permutation(a)
    n_train = int(0.6 * len(a))
    n_val = int(0.2 * len(a))
    train, val, test = np.sort(a[:n_train]), np.sort(a[n_train:n_train + n_val]), np.sort(a[n_train + n_val:])
    prs = {}
    with timer("prs_ct_s"):
        for label, y in (("liability", liability), ("case", case.astype(float))):
            gw = run_gwas(gq[:, train], y[train], covariates=pcs[train], method="linear")
            idx = clump(gw, gq[:, train], vq_variants, r2_threshold=0.1, window_bp=250_000, random_state=0)
            ct = fit_clumping_thresholding(gw, idx, gq[:, val], y[val])
            prs[f"ct_{label}"] = ct
            if label == "liability":
                candidates = idx[gw["p"].to_numpy()[idx] < 0.05]
    with timer("prs_penalised_s"):
        prs["enet_liability"] = fit_penalised_prs(gq[:, train], liability[train], gq[:, val], liability[val],
                                                  variant_index=candidates, l1_ratio=0.5)

    h2_a = float(np.var(polygenic[a]) / np.var(liability[a]))
    m_e = effective_number_of_segments(cohort.demography["effective_size"],
                                       cohort.demography["genome_length_morgans"])
    expected = daetwyler_expected_r2(h2_a, len(train), m_e)
    prs_results = {}
    for name, score in prs.items():
        s = polygenic_score(gq, score)
        r2_a = float(np.corrcoef(s[test], liability[test])[0, 1] ** 2)
        r2_b = float(np.corrcoef(s[b], liability[b])[0, 1] ** 2)
        prs_results[name] = {
            "parameter": score.parameter, "n_variants": int(len(score.variant_index)),
            "r2_liability_test_group_A": round(r2_a, 4), "r2_liability_group_B": round(r2_b, 4),
            "fraction_of_daetwyler": round(r2_a / expected, 3),
            "relative_drop_in_group_B": round(1 - r2_b / r2_a, 3),
        }

    print(json.dumps({**lam, "expected": expected, "h2_a": h2_a, **prs_results}, indent=1), flush=True)
    fig = plot_gwas_summary(res["case_logistic"][0], res["case_logistic"][1], vq_variants, pca, groups_q,
                            highlight=np.flatnonzero(np.isin(np.flatnonzero(vmask), truth.causal_index)),
                            null_mask=far)
    fig.suptitle(f"Synthetic cohort: {len(samples_q):,} people, {int(vmask.sum()):,} SNPs after QC "
                 "(case-control GWAS, logistic score test)")
    fig_path = ROOT / "docs" / "figures" / "cancer_gwas.png"
    fig.savefig(fig_path, dpi=110)

    if files:
        with tempfile.TemporaryDirectory() as tmp:
            vcf = Path(tmp) / "genotypes.vcf.gz"
            with timer("write_vcf_s"):
                write_vcf(vcf, g, variants, samples["sample_id"])
            vcf_mb = vcf.stat().st_size / 2**20
            with timer("read_vcf_s"):
                back = read_vcf(vcf)
            assert np.array_equal(back.genotypes, g)
            del back
            with timer("vcf_to_zarr_s"):
                store = vcf_to_zarr(vcf, Path(tmp) / "genotypes.zarr")
            with timer("read_zarr_into_memory_s"):
                zg = read_zarr(store).genotypes.compute()
            assert np.array_equal(zg, g)
            with timer("gwas_from_zarr_dask_s"):
                run_gwas(read_zarr(store).genotypes[:, np.flatnonzero(smask)], liability, covariates=pcs)

    counts = samples.groupby("ancestry_group")["case"].agg(["size", "mean"]).round(4)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores "
                   f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})",
        "load_average_1_5_15_min_at_end": [round(x, 2) for x in os.getloadavg()],
        "n_individuals": n_individuals, "n_snps_simulated": int(g.shape[0]),
        "n_snps_after_qc": int(vmask.sum()), "n_samples_after_qc": int(smask.sum()),
        "n_snps_pruned_for_pca": int(pruned.sum()), "n_snps_far_from_causal": int(far.sum()),
        "missing_call_fraction": round(float((g[:, :, 0] < 0).mean()), 4),
        "groups": {k: {"n": int(v["size"]), "case_fraction": float(v["mean"])} for k, v in counts.iterrows()},
        "timings_s": timer.times, **lam,
        "prs": {"h2_liability_group_A": round(h2_a, 4), "m_e_goddard": round(m_e, 1),
                "n_train": int(len(train)), "n_validation": int(len(val)), "n_test": int(len(test)),
                "n_group_B": int(len(b)), "daetwyler_expected_r2": round(expected, 4), **prs_results},
        "figure": str(fig_path.relative_to(ROOT)),
    }
    return result


def write_markdown(result: dict, path: Path) -> None:
    t = result["timings_s"]
    p = result["prs"]
    lines = [
        "# Cancer track benchmark",
        "",
        f"Machine: {result['machine']}; load average at the end {result['load_average_1_5_15_min_at_end']} "
        f"(other jobs shared the cores, so times are upper bounds). Cohort: {result['n_individuals']:,} people, "
        f"{result['n_snps_simulated']:,} SNPs simulated ({result['n_snps_after_qc']:,} after QC).",
        "",
        "| step | seconds | target |",
        "|---|---|---|",
        f"| simulate (msprime + phenotype) | {t['simulate_s']} | < 60 |",
        f"| GWAS, all {result['n_snps_simulated']:,} SNPs, linear + 5 PCs | {t['gwas_all_snps_linear_s']} | < 10 |",
        f"| GWAS, all SNPs, logistic score test + 5 PCs | {t['gwas_all_snps_logistic_s']} | < 10 |",
        f"| QC (call rate, MAF, HWE exact within groups, sample missingness) | {t['qc_s']} | |",
        f"| LD pruning + PCA | {t['ld_prune_pca_s']} | |",
    ]
    for key in ("write_vcf_s", "read_vcf_s", "vcf_to_zarr_s", "read_zarr_into_memory_s", "gwas_from_zarr_dask_s"):
        if key in t:
            lines.append(f"| {key[:-2].replace('_', ' ')} | {t[key]} | |")
    lines += [
        "",
        "Genomic inflation on SNPs >= 1 Mb from any causal variant (target: corrected in [0.95, 1.10], "
        "uncorrected >= 1.2):",
        "",
        "| phenotype | uncorrected | 5 PCs |",
        "|---|---|---|",
        f"| case/control, logistic score | {result['lambda_case_logistic_uncorrected']} | "
        f"{result['lambda_case_logistic_pc_corrected']} |",
        f"| liability, linear | {result['lambda_liability_linear_uncorrected']} | "
        f"{result['lambda_liability_linear_pc_corrected']} |",
        "",
        f"PRS (trained in group_A, N_train = {p['n_train']}, h2 = {p['h2_liability_group_A']}, "
        f"Me = {p['m_e_goddard']} (Goddard), Daetwyler expected R2 = {p['daetwyler_expected_r2']}):",
        "",
        "| score | R2 liability, group_A test | fraction of Daetwyler | R2 liability, group_B | relative drop |",
        "|---|---|---|---|---|",
    ]
    for name in ("ct_liability", "enet_liability", "ct_case"):
        r = p[name]
        lines.append(f"| {name} | {r['r2_liability_test_group_A']} | {r['fraction_of_daetwyler']} | "
                     f"{r['r2_liability_group_B']} | {r['relative_drop_in_group_B']} |")
    lines += ["", "ct = clumping + thresholding (threshold chosen on the validation split); enet = elastic net; "
              "_liability = trained on the liability-scale phenotype (what the Daetwyler formula assumes), "
              "_case = trained on case/control status.", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--no-files", action="store_true", help="skip the VCF/zarr round trips")
    args = parser.parse_args()
    out = main(args.n, files=not args.no_files)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "cancer.json").write_text(json.dumps(out, indent=2))
    write_markdown(out, results / "cancer.md")
    print(json.dumps(out, indent=2))
