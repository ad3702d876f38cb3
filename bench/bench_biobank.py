"""Biobank-scale benchmark (medai_lib.cancer.scale), measured side by side in one run:

1. peak memory of a linear GWAS (5 covariates) from a 5,000- to a 50,000-person cohort with the same
   variants, on the chunked path (LocalCluster) and on the in-memory path;
2. GWAS throughput with 2 workers against 1 (LocalCluster, one process per worker, one thread each);
3. against PLINK 2 (Debian's plink2, when installed) on 5,000 people x 70,000 variants, 1 thread: time of
   the linear GWAS with 5 covariates and the correlation of -log10 p.

Genotypes: allele frequencies of each genetic ancestry group come from an msprime cohort
(make_cancer_cohort); larger cohorts draw each person's alleles from their group's frequencies (Hardy-Weinberg
within groups, 2% missing calls, variants independent: LD does not change the cost of a GWAS). They are written
straight to stores with write_genotype_store, a chunk at a time. Each measurement runs in its own process
(peak resident memory of that process: ru_maxrss; the chunked path runs its workers as threads of that
process so that they are counted).

Run: .venv/bin/python bench/bench_biobank.py [--small 5000] [--large 50000] [--variants 10000]
Writes bench/results/biobank.json and biobank.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
N_COVARIATES = 5


# --- data -----------------------------------------------------------------------------------------------

def group_frequencies(random_state: int = 0):
    """ALT allele frequency of each variant in each genetic ancestry group of an msprime cohort."""
    from medai_lib.cancer import LiabilityModel, make_cancer_cohort

    cohort = make_cancer_cohort(1000, n_chromosomes=2, chromosome_length=5e6, model=LiabilityModel(n_causal=20),
                                published_gwas_n=None, random_state=random_state)
    g = cohort.genotypes
    groups = cohort.samples["ancestry_group"].to_numpy()
    freqs = []
    for name in ("group_A", "group_B"):
        sub = g[:, groups == name]
        called = (sub >= 0).sum(axis=(1, 2))
        freqs.append(np.where(sub >= 0, sub, 0).sum(axis=(1, 2)) / np.maximum(called, 1))
    freqs = np.stack(freqs, axis=1)
    common = np.minimum(freqs.mean(axis=1), 1 - freqs.mean(axis=1)) >= 0.01
    return freqs[common]


def make_store(path: Path, n_people: int, n_variants: int, freqs: np.ndarray, seed: int,
               missing: float = 0.02) -> dict:
    """Write a synthetic cohort store and its phenotype; return the phenotype arrays."""
    from medai_lib.cancer import scale

    rng = np.random.default_rng(seed)
    group_b = rng.random(n_people) < 0.2
    rows = np.arange(n_variants) % len(freqs)
    causal = np.sort(rng.choice(n_variants, size=20, replace=False))
    effects = rng.normal(0, 0.15, size=20)
    liability = np.zeros(n_people)
    block = max(1, 4_000_000 // n_people)

    def blocks():
        nonlocal liability
        for start in range(0, n_variants, block):
            stop = min(start + block, n_variants)
            p = freqs[rows[start:stop]][:, group_b.astype(int)]  # (m, n)
            g = (rng.random((stop - start, n_people, 2)) < p[:, :, None]).astype(np.int8)
            hit = (causal >= start) & (causal < stop)
            if hit.any():
                liability += g[causal[hit] - start].sum(axis=2).T @ effects[hit]
            g[rng.random((stop - start, n_people)) < missing] = -1
            yield g

    variants = pd.DataFrame({"chrom": "1", "pos": np.arange(1, n_variants + 1) * 100,
                             "id": [f"v{i}" for i in range(n_variants)], "ref": "A", "alt": "G"})
    scale.write_genotype_store(path, blocks(), variants, [f"p{i}" for i in range(n_people)], overwrite=True)
    covariates = np.column_stack([group_b.astype(float), rng.normal(size=(n_people, N_COVARIATES - 1))])
    y = liability + 0.3 * group_b + rng.normal(size=n_people)
    np.savez(path / "phenotype.npz", y=y, covariates=covariates)
    return {"y": y, "covariates": covariates}


# --- measurements, each in a fresh process -------------------------------------------------------------------

def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, store: str, workers: int = 1, repeats: int = 1) -> dict:
    """Run in a child process: one GWAS; print seconds and peak memory."""
    pheno = np.load(Path(store) / "phenotype.npz")
    y, covariates = pheno["y"], pheno["covariates"]
    out = {"kind": kind, "load_before": os.getloadavg()[0]}
    if kind == "in_memory":
        from medai_lib.cancer import run_gwas, scale

        out["baseline_mib"] = _peak_mib()
        t0 = time.perf_counter()
        g = scale.open_genotype_store(store).genotypes.compute(scheduler="sync")
        out["read_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        res = run_gwas(g, y, covariates=covariates)
        seconds = time.perf_counter() - t0
    else:
        from medai_lib.cancer import scale

        client = scale.start_cluster(n_workers=workers, threads_per_worker=1, processes=(kind == "throughput"))
        data = scale.open_genotype_store(store)
        warm = np.zeros(data.genotypes.shape[0], dtype=bool)
        warm[: data.chunk_variants * workers] = True
        scale.run_gwas(data, y, covariates=covariates, variant_mask=warm)  # start-up and compilation
        out["baseline_mib"] = _peak_mib()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = scale.run_gwas(data, y, covariates=covariates)
            times.append(time.perf_counter() - t0)
        out["all_seconds"] = [round(t, 2) for t in times]
        seconds = min(times)
        client.close()
    out["seconds"] = round(seconds, 2)
    out["peak_mib"] = round(_peak_mib(), 1)
    out["load_after"] = os.getloadavg()[0]
    if kind in ("in_memory", "chunked"):
        np.save(Path(store) / f"p_{kind}.npy", res["p"].to_numpy())
    return out


def run_child(*args) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, __file__, "--measure", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    if proc.returncode:
        raise RuntimeError(f"measurement {args} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(result, flush=True)
    return result


def wait_for_quiet(max_wait_s: float = 180, threshold: float = 1.5) -> float:
    """Wait (a while at most) for the 1-minute load average to fall: other users share the cores."""
    t0 = time.time()
    while os.getloadavg()[0] > threshold and time.time() - t0 < max_wait_s:
        time.sleep(10)
    return os.getloadavg()[0]


def plink_comparison(folder: Path, n_people: int, n_variants: int, freqs: np.ndarray, missing: float = 0.02) -> dict:
    plink = shutil.which("plink2")
    if plink is None:
        return {"skipped": "plink2 is not installed (Debian: apt-get install plink2)"}
    from medai_lib.cancer import run_gwas, scale, write_vcf

    folder = folder / f"plink_missing_{missing}"
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / "plink_cohort.zarr"
    pheno = make_store(store, n_people, n_variants, freqs, seed=7, missing=missing)
    data = scale.open_genotype_store(store)
    g = data.genotypes.compute(scheduler="sync")
    t0 = time.perf_counter()
    in_memory = run_gwas(g, pheno["y"], covariates=pheno["covariates"])
    t_memory = time.perf_counter() - t0
    vcf = write_vcf(folder / "plink.vcf.gz", g, data.variants, data.samples["sample_id"])
    del g
    ids = data.samples["sample_id"]
    pd.DataFrame({"#FID": ids, "IID": ids, "y": pheno["y"]}).to_csv(folder / "pheno.tsv", sep="\t", index=False)
    cov = pd.DataFrame(pheno["covariates"], columns=[f"c{i}" for i in range(N_COVARIATES)])
    cov.insert(0, "IID", ids)
    cov.insert(0, "#FID", ids)
    cov.to_csv(folder / "covar.tsv", sep="\t", index=False)
    t0 = time.perf_counter()
    subprocess.run([plink, "--vcf", str(vcf), "--double-id", "--make-pgen", "--threads", "1", "--out",
                    str(folder / "cohort")], check=True, capture_output=True)
    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([plink, "--pfile", str(folder / "cohort"), "--pheno", str(folder / "pheno.tsv"), "--covar",
                    str(folder / "covar.tsv"), "--glm", "hide-covar", "--threads", "1", "--out",
                    str(folder / "gwas")], check=True, capture_output=True)
    t_plink = time.perf_counter() - t0
    table = pd.read_csv(next(folder.glob("gwas*.glm.linear")), sep="\t")
    chunked = run_child("chunked", store, 1)
    ours = -np.log10(np.load(store / "p_chunked.npy"))
    theirs = -np.log10(table.set_index("ID").loc[data.variants["id"], "P"].to_numpy())
    ok = np.isfinite(ours) & np.isfinite(theirs)
    version = subprocess.run([plink, "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "plink_version": version, "n_people": n_people, "n_variants": n_variants, "missing": missing,
        "plink_glm_s": round(t_plink, 2), "plink_vcf_import_s": round(t_import, 2),
        "chunked_gwas_s_1_thread": chunked["seconds"], "in_memory_gwas_s": round(t_memory, 2),
        "r_minus_log10_p_chunked_vs_plink": round(float(np.corrcoef(ours[ok], theirs[ok])[0, 1]), 5),
        "r_minus_log10_p_in_memory_vs_plink": round(float(np.corrcoef(
            -np.log10(in_memory["p"].to_numpy())[ok], theirs[ok])[0, 1]), 5),
    }


def main(args) -> dict:
    freqs = group_frequencies()
    print(f"{len(freqs)} variant frequency profiles", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="medai_biobank_"))
    try:
        stores = {}
        timings = {}
        for n in (args.small, args.large):
            t0 = time.perf_counter()
            stores[n] = folder / f"cohort_{n}.zarr"
            make_store(stores[n], n, args.variants, freqs, seed=n)
            timings[f"write_store_{n}_s"] = round(time.perf_counter() - t0, 1)
            print(f"store of {n:,} people written in {timings[f'write_store_{n}_s']} s", flush=True)
        load_start = wait_for_quiet()
        memory = {f"{kind}_{n}": run_child(kind, stores[n], 2) for n in (args.small, args.large)
                  for kind in ("chunked", "in_memory")}
        agree = {n: float(np.nanmax(np.abs(np.log10(np.load(stores[n] / "p_chunked.npy"))
                                          - np.log10(np.load(stores[n] / "p_in_memory.npy")))))
                 for n in (args.small, args.large)}
        wait_for_quiet()
        throughput = {w: run_child("throughput", stores[args.large], w, 2) for w in (1, 2)}
        plink = {"skipped": "--skip-plink"} if args.skip_plink else plink_comparison(
            folder, args.plink_people, args.plink_variants, freqs)
        plink_complete = {"skipped": "--skip-plink"} if args.skip_plink else plink_comparison(
            folder, args.plink_people, args.plink_variants, freqs, missing=0.0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    small, large = args.small, args.large
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, shared with other "
                   "users during the run (load averages below)",
        "load_average_1_min_at_start": round(load_start, 2),
        "load_average_1_5_15_min_at_end": [round(x, 2) for x in os.getloadavg()],
        "n_variants": args.variants, "cohorts": [small, large], "timings_s": timings,
        "memory": memory,
        "peak_ratio_chunked": round(memory[f"chunked_{large}"]["peak_mib"] / memory[f"chunked_{small}"]["peak_mib"], 2),
        "peak_ratio_in_memory": round(memory[f"in_memory_{large}"]["peak_mib"]
                                      / memory[f"in_memory_{small}"]["peak_mib"], 2),
        "max_abs_diff_log10_p_chunked_vs_in_memory": {str(k): v for k, v in agree.items()},
        "throughput": {str(k): v for k, v in throughput.items()},
        "speedup_2_workers": round(throughput[1]["seconds"] / throughput[2]["seconds"], 2),
        "plink": plink,
        "plink_no_missing": plink_complete,
    }


def _above_imports(m: dict, kind: str, small: int, large: int) -> float:
    """Growth of the memory the GWAS itself adds, above what the process held before it started."""
    grow = [m[f"{kind}_{n}"]["peak_mib"] - m[f"{kind}_{n}"]["baseline_mib"] for n in (small, large)]
    return round(grow[1] / max(grow[0], 1.0), 1)


def _plink_verdict(p: dict, p0: dict) -> str:
    """Which rows meet the target, in words (so the text follows the numbers of the run)."""
    parts = []
    for label, q in (("with 2% missing calls", p), ("with no missing calls", p0)):
        if "skipped" in q:
            continue
        fast = q["in_memory_gwas_s"] <= q["plink_glm_s"]
        close = q["r_minus_log10_p_in_memory_vs_plink"] >= 0.999
        parts.append(f"{label}: {'faster' if fast else 'slower'} than PLINK "
                     f"({q['in_memory_gwas_s']} s against {q['plink_glm_s']} s in memory), r "
                     f"{'meets' if close else 'misses'} 0.999")
    text = "; ".join(parts) + "." if parts else ""
    text = text[:1].upper() + text[1:]
    if "skipped" not in p0 and p0["plink_glm_s"] < 0.25 * p["plink_glm_s"]:
        text += (" Without missing calls every variant's regression has the same people, so PLINK can reuse its "
                 "covariate work across variants on its bit-packed genotypes; most likely why it is so much faster "
                 "on that cohort than with missing calls.")
    return text


def write_markdown(r: dict, path: Path) -> None:
    small, large = r["cohorts"]
    m = r["memory"]
    t = r["throughput"]
    p = r["plink"]
    p0 = r.get("plink_no_missing", {"skipped": "not measured in this run"})
    quiet = r["load_average_1_min_at_start"] < 1.5
    lines = [
        "# Biobank-scale genotype analysis benchmark (medai_lib.cancer.scale)",
        "",
        f"Machine: {r['machine'].split(', shared')[0] if quiet else r['machine']}: 1-minute load average {r['load_average_1_min_at_start']} when the "
        f"measurements started, {r['load_average_1_5_15_min_at_end']} (1, 5, 15 min) at the end. "
        + ("The machine was otherwise idle." if quiet else "With other work on the two cores, times are upper "
           "bounds and the 2-worker speed-up is a lower bound."),
        "",
        f"Cohorts: {small:,} and {large:,} people, the same {r['n_variants']:,} variants; genotypes drawn from the "
        "allele frequencies of each genetic ancestry group of an msprime cohort, 2% missing; linear GWAS with "
        f"{N_COVARIATES} covariates. Chunked path: `scale.run_gwas` on a LocalCluster (2 workers as threads of "
        "the measured process, 1 thread each), store chunks of 32 MiB. In-memory path: the store read into a "
        "NumPy array (the read is not in the seconds shown), then `run_gwas`. Peak = peak resident memory of the "
        "measuring process; seconds = the GWAS.",
        "",
        "## Peak memory from 5,000 to 50,000 people",
        "",
        "| path | " + " | ".join(f"{n:,} people: peak MiB (after imports), s" for n in (small, large)) +
        " | ratio | target |",
        "|---|---|---|---|---|",
        f"| chunked (Dask, sgkit) | {m[f'chunked_{small}']['peak_mib']} ({m[f'chunked_{small}']['baseline_mib']:.0f}),"
        f" {m[f'chunked_{small}']['seconds']} | {m[f'chunked_{large}']['peak_mib']} "
        f"({m[f'chunked_{large}']['baseline_mib']:.0f}), {m[f'chunked_{large}']['seconds']} | "
        f"{r['peak_ratio_chunked']} | within 2x |",
        f"| in memory | {m[f'in_memory_{small}']['peak_mib']} ({m[f'in_memory_{small}']['baseline_mib']:.0f}), "
        f"{m[f'in_memory_{small}']['seconds']} | {m[f'in_memory_{large}']['peak_mib']} "
        f"({m[f'in_memory_{large}']['baseline_mib']:.0f}), {m[f'in_memory_{large}']['seconds']} | "
        f"{r['peak_ratio_in_memory']} | grows ~10x |",
        "",
        f"Above what each process held before the GWAS (imports, cluster start-up; in brackets), the GWAS added "
        f"{_above_imports(m, 'chunked', small, large)}x more memory at {large:,} than at {small:,} people on the "
        f"chunked path and {_above_imports(m, 'in_memory', small, large)}x on the in-memory path (its genotype "
        f"array alone is {r['n_variants'] * large * 2 / 2**20:,.0f} MiB at {large:,} people).",
        "",
        "Largest difference of log10 p between the two paths: "
        + ", ".join(f"{int(k):,} people {v:.1e}" for k, v in r["max_abs_diff_log10_p_chunked_vs_in_memory"].items())
        + ".",
        "",
        f"## Throughput, {large:,} people (one process per worker, 1 thread each; best of 2 runs)",
        "",
        "| workers | seconds | runs | target |",
        "|---|---|---|---|",
        f"| 1 | {t['1']['seconds']} | {t['1']['all_seconds']} | |",
        f"| 2 | {t['2']['seconds']} | {t['2']['all_seconds']} | |",
        f"| speed-up | {r['speedup_2_workers']}x | | >= 1.6x on 2 idle cores |",
        "",
        "1-minute load average around the throughput runs: "
        + ", ".join(f"{w} worker(s) {t[w]['load_before']:.1f} to {t[w]['load_after']:.1f}" for w in ("1", "2"))
        + " on 2 cores."
        + ("" if r["speedup_2_workers"] >= 1.6 else
           " Other users' jobs held the cores: a load above 2 leaves the second worker no free core, so this run "
           "cannot show the speed-up (the two runs of one setting differ by up to "
           f"{max(max(v['all_seconds']) / min(v['all_seconds']) for v in t.values()):.1f}x)."),
        "",
        "## Against PLINK 2",
        "",
    ]
    if "skipped" in p:
        lines.append(f"Skipped: {p['skipped']}.")
    else:
        lines += [
            f"{p['plink_version']}; {p['n_people']:,} people x {p['n_variants']:,} variants, linear GWAS with "
            f"{N_COVARIATES} covariates, 1 thread each (PLINK reads its pgen, made once from the VCF in "
            f"{p['plink_vcf_import_s']} s; the chunked path reads its store). The same cohort twice: with 2% of "
            "calls missing, as in real arrays, and with every call present.",
            "",
            "| cohort | | seconds | r of -log10 p with PLINK |",
            "|---|---|---|---|",
        ]
        for label, q in (("2% missing", p), ("no missing calls", p0)):
            if "skipped" in q:
                lines.append(f"| {label} | skipped: {q['skipped']} | | |")
                continue
            lines += [
                f"| {label} | PLINK 2 `--glm` | {q['plink_glm_s']} | |",
                f"| {label} | chunked path, 1 worker thread | {q['chunked_gwas_s_1_thread']} | "
                f"{q['r_minus_log10_p_chunked_vs_plink']} |",
                f"| {label} | in-memory `run_gwas` (store already in memory) | {q['in_memory_gwas_s']} | "
                f"{q['r_minus_log10_p_in_memory_vs_plink']} |",
            ]
        lines += [
            "",
            "Target: at least as fast as PLINK, r >= 0.999. " + _plink_verdict(p, p0) + " With every call present "
            "both sides fit the same model "
            "and the r above measures the arithmetic alone. With missing calls they differ by design: PLINK drops a "
            "person's missing call from that variant's regression, while the course fills it with the variant's "
            "mean dosage, which shifts weak associations "
            "a little; hence r slightly lower in that row.",
        ]
    lines.append("")
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--variants", type=int, default=10000)
    parser.add_argument("--plink-people", type=int, default=5000)
    parser.add_argument("--plink-variants", type=int, default=70000)
    parser.add_argument("--skip-plink", action="store_true")
    parser.add_argument("--plink-only", action="store_true",
                        help="redo only the PLINK comparisons, keeping the rest of bench/results/biobank.json")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--markdown-from", type=Path, help="rewrite biobank.md from a biobank.json")
    args = parser.parse_args()
    if args.markdown_from:
        write_markdown(json.loads(args.markdown_from.read_text()), args.out / "biobank.md")
        sys.exit(0)
    if args.measure:
        kind, store, workers = args.measure[0], args.measure[1], int(args.measure[2])
        print(json.dumps(measure(kind, store, workers, repeats=2 if kind == "throughput" else 1)))
        sys.exit(0)
    if args.plink_only:
        result = json.loads((args.out / "biobank.json").read_text())
        folder = Path(tempfile.mkdtemp(prefix="medai_biobank_"))
        try:
            freqs = group_frequencies()
            result["plink"] = plink_comparison(folder, args.plink_people, args.plink_variants, freqs)
            result["plink_no_missing"] = plink_comparison(folder, args.plink_people, args.plink_variants, freqs,
                                                          missing=0.0)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        result = main(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "biobank.json").write_text(json.dumps(result, indent=2))
    write_markdown(result, args.out / "biobank.md")
    print(json.dumps(result, indent=2))
