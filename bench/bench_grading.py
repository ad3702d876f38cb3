"""Grading speed: `medai grade --jobs 2` against plain sequential `nbgrader autograde` on the same
submissions of a lab, side by side in one run, and the per-submission overhead of the isolated grader
beyond the notebook's own execution (a plain nbclient run of the same notebook).

Run: .venv/bin/python bench/bench_grading.py [--lab lab00_clinical_values] [--n 50] [--jobs 2]
Writes bench/results/grading.json and grading.md.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "grading"))
import cases  # noqa: E402

from medai_lib.course.grading import grade_lab  # noqa: E402


def make_submissions(lab: str, folder: Path, n: int) -> list[Path]:
    """n submissions: full solutions, unanswered releases and each committed wrong answer, in turn."""
    rel, answers, _ = cases.load(ROOT, lab)
    full = cases.solved(rel, answers)
    variants = [full, rel]
    for wrong in cases.wrong_answers(ROOT, lab):
        nb = copy.deepcopy(full)
        cases.cell(nb, wrong["cell"]).source = wrong["code"]
        variants.append(nb)
    return [cases.write(variants[i % len(variants)], folder, lab, f"s{i:03d}") for i in range(n)]


def plain_nbgrader(lab: str, files: list[Path], work: Path) -> float:
    """Sequential `nbgrader autograde` of every submission in a private course (wall seconds)."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
               OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    shutil.copytree(ROOT / "solutions" / lab, work / "source" / lab,
                    ignore=shutil.ignore_patterns("wrong_answers.yml", "rubric.md"))
    common = [f"--CourseDirectory.root={work}", f"--CourseDirectory.db_url=sqlite:///{work / 'gradebook.db'}",
              "--log-level=ERROR"]
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", lab, "--force", *common],
                   cwd=work, env=env, check=True, capture_output=True)
    for path in files:
        student = path.name.split("_attempt_")[0].rsplit("_", 1)[1]
        target = work / "submitted" / student / lab / f"{lab}.ipynb"
        target.parent.mkdir(parents=True)
        shutil.copy2(path, target)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", lab, "--create", "--force",
                    "--ExecutePreprocessor.timeout=120", *common], cwd=work, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def plain_execution(files: list[Path], release_dir: Path) -> list[float]:
    """Wall seconds of a plain nbclient execution (kernel start + cells) of each notebook."""
    import nbformat
    from nbclient import NotebookClient

    times = []
    for path in files:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(release_dir, tmp, dirs_exist_ok=True)
            nb = nbformat.read(path, as_version=4)
            t0 = time.perf_counter()
            NotebookClient(nb, timeout=120, allow_errors=True, resources={"metadata": {"path": tmp}}).execute()
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lab", default="lab00_clinical_values")
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--n-overhead", type=int, default=5, help="submissions for the overhead measurement")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        files = make_submissions(args.lab, tmp / "subs", args.n)
        # nbgrader first, then the grader: the machine is shared, so results/grading.md keeps earlier runs
        # made in the other order too.
        t_nbgrader = plain_nbgrader(args.lab, files, tmp / "nbgrader")
        t0 = time.perf_counter()
        ours = grade_lab(args.lab, tmp / "subs", root=ROOT, jobs=args.jobs, out=tmp / "out",
                         db_url=f"sqlite:///{tmp / 'gb.db'}", regrade=True)
        t_ours = time.perf_counter() - t0
        # Overhead: the same few submissions, one at a time, through the grader and through plain nbclient.
        few = files[: args.n_overhead]
        (tmp / "few").mkdir()
        for f in few:
            shutil.copy2(f, tmp / "few" / f.name)
        t1 = time.perf_counter()
        seq = grade_lab(args.lab, tmp / "few", root=ROOT, jobs=1, out=tmp / "out-few",
                        db_url=f"sqlite:///{tmp / 'gb-few.db'}", regrade=True)
        t_seq = time.perf_counter() - t1
        # Sandbox overhead: the same few again without the sandbox (one after the other, twice, alternating,
        # so load changes on a shared machine hit both sides alike).
        bare_s, boxed_s = [], []
        for rep in range(2):
            for sandbox, times in ((False, bare_s), (True, boxed_s)):
                run = grade_lab(args.lab, tmp / "few", root=ROOT, jobs=1, out=tmp / f"out-{sandbox}-{rep}",
                                db_url=f"sqlite:///{tmp / f'gb-{sandbox}-{rep}.db'}", regrade=True, sandbox=sandbox)
                times += [r["seconds"] for r in run.results]
        plain = plain_execution(few, ROOT / "labs" / args.lab)
    per_sub = [r["seconds"] for r in seq.results]
    result = {
        "lab": args.lab, "n_submissions": args.n, "jobs": args.jobs,
        "machine": f"{os.cpu_count()}-core CPU ({platform.machine()}), shared", "python": platform.python_version(),
        "medai_grade_wall_s": round(t_ours, 1),
        "nbgrader_autograde_sequential_wall_s": round(t_nbgrader, 1),
        "speedup_vs_nbgrader": round(t_nbgrader / t_ours, 2),
        "medai_grade_s_per_submission": round(t_ours / args.n, 2),
        "nbgrader_s_per_submission": round(t_nbgrader / args.n, 2),
        "overhead_n": len(few),
        "plain_execution_s_mean": round(statistics.mean(plain), 2),
        "grader_in_worker_s_mean": round(statistics.mean(per_sub), 2),
        "overhead_in_worker_s": round(statistics.mean(per_sub) - statistics.mean(plain), 2),
        "overhead_end_to_end_s": round(t_seq / len(few) - statistics.mean(plain), 2),
        "scores_equal_count": int((ours.grades["score"] >= 0).sum()),
        "without_sandbox_s_median": round(statistics.median(bare_s), 3),
        "with_sandbox_s_median": round(statistics.median(boxed_s), 3),
        "sandbox_overhead_s": round(statistics.median(boxed_s) - statistics.median(bare_s), 3),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = "grading" if args.lab == "lab00_clinical_values" else f"grading_{args.lab.split('_')[0]}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        f"# Grading benchmark ({result['lab']}, {args.n} submissions, {result['machine']})", "",
        "| measure | value |", "|---|---|",
        f"| `medai grade --jobs {args.jobs}` wall time | {result['medai_grade_wall_s']} s |",
        f"| plain sequential `nbgrader autograde` wall time | {result['nbgrader_autograde_sequential_wall_s']} s |",
        f"| speed-up (nbgrader / medai grade) | {result['speedup_vs_nbgrader']}x |",
        f"| plain nbclient execution of one notebook (mean of {len(few)}) | {result['plain_execution_s_mean']} s |",
        f"| grader time per submission inside the worker | {result['grader_in_worker_s_mean']} s |",
        f"| overhead per submission, in the worker | {result['overhead_in_worker_s']} s |",
        f"| overhead per submission, end to end at --jobs 1 (incl. gradebook, reports) | {result['overhead_end_to_end_s']} s |",
        f"| one submission without the sandbox (median of {len(bare_s)}) | {result['without_sandbox_s_median']} s |",
        f"| one submission in the sandbox (median of {len(boxed_s)}) | {result['with_sandbox_s_median']} s |",
        f"| sandbox overhead per submission | {result['sandbox_overhead_s']} s |",
        "",
        "Both runs execute every notebook; the grader additionally restores cells, runs integrity checks before each",
        "test, starts each kernel in its bubblewrap sandbox with limits, and writes feedback, grades CSV and the report.",
    ]
    (out / f"{stem}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
