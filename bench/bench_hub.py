"""Class hub under load: N learners (real Linux users) log in at once on a throw-away hub on 127.0.0.1, start
their servers, fetch lab00 through nbgrader's exchange, run its first cells through the kernel API and submit.

Reports failed spawns, lost submissions (submitted but not in the exchange's inbound folder), spawn time
p50/p95, and memory per learner from each learner's own cgroup: idle (server started, no kernel), after
lab00's first cells, and after a level-2 lesson's imports (PyTorch, MONAI, the fibrosis track).

Run as root: .venv/bin/python bench/bench_hub.py [--learners 10] [--mem-limit 2G]
Writes bench/results/hub.json and hub.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab00_clinical_values"
LEVEL2_IMPORTS = "import torch, monai\nfrom medai_lib import fibrosis\nprint('imported')"


def first_cells(n: int = 2) -> str:
    """lab00's setup cell and the first code cell after it, as the learner's kernel runs them."""
    nb = nbformat.read(ROOT / "labs" / LAB / f"{LAB}.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code" and "raise NotImplementedError" not in c.source]
    return "\n\n".join(code[:n])


def pct(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def learner_run(hub, cgroups, name: str, code: str) -> dict:
    out = {"name": name, "spawned": False, "submitted": False, "errors": []}
    try:
        client = hub.client(name)
        out["spawn_s"] = client.start(timeout=900)
        out["spawned"] = True
        time.sleep(2)
        out["mem_idle"], out["anon_idle"] = cgroups.memory_bytes(name), cgroups.anon_bytes(name)
        client.assignments("fetch", LAB)
        text, err = client.run_code(code, timeout=600)
        if err:
            out["errors"].append(f"lab00 cells: {err}")
        out["mem_lab00"], out["anon_lab00"] = cgroups.memory_bytes(name), cgroups.anon_bytes(name)
        text, err = client.run_code(LEVEL2_IMPORTS, timeout=600, kernel_id=client._last_kernel)
        if err:
            out["errors"].append(f"level-2 imports: {err}")
        out["mem_level2"], out["anon_level2"] = cgroups.memory_bytes(name), cgroups.anon_bytes(name)
        res = client.assignments("submit", LAB)
        out["submitted"] = bool(isinstance(res, dict) and res.get("success"))
    except Exception as exc:  # a failure of one learner is a result, not the end of the benchmark
        out["errors"].append(f"{type(exc).__name__}: {exc}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=10)
    ap.add_argument("--mem-limit", default="2G")
    ap.add_argument("--cpu-limit", type=float, default=1.0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    if not 1 <= args.learners <= 20:
        ap.error("--learners: 1 to 20 (a bounded benchmark)")
    from medai_lib.course.hub import ThrowawayHub
    from medai_lib.course.hub_spawner import UserCgroups

    cgroups = UserCgroups()
    load_before = os.getloadavg()
    t0 = time.monotonic()
    hub = ThrowawayHub(learners=args.learners, prefix="mdbench-", mem_limit=args.mem_limit, cpu_limit=args.cpu_limit)
    hub.settings.spawn_timeout = 900  # measure slow spawns on a busy machine rather than fail them
    with hub:
        teach = hub.instructor_names[0]
        course = hub.settings.course_root
        for cmd in ([str(hub.settings.bin_dir / "medai"), "course", "build", "lab00"],
                    [hub.settings.python, "-m", "nbgrader", "release_assignment", LAB]):
            res = hub.as_user(teach, cmd, cwd=course)
            if res.returncode:
                raise SystemExit(res.stdout + res.stderr)
        code = first_cells()
        t_spawn = time.monotonic()
        with ThreadPoolExecutor(args.learners) as pool:
            runs = list(pool.map(lambda n: learner_run(hub, cgroups, n, code), hub.learner_names))
        wall = time.monotonic() - t_spawn
        inbound = Path(hub.settings.exchange_root) / "medai" / "inbound"
        arrived = {p.name.split("+")[0] for p in inbound.iterdir()}
    load_after = os.getloadavg()
    submitted = {r["name"] for r in runs if r["submitted"]}
    spawn = [r["spawn_s"] for r in runs if r["spawned"]]
    mb = lambda key: [r[key] / 2**20 for r in runs if r.get(key)]  # noqa: E731
    result = {
        "learners": args.learners, "mem_limit": args.mem_limit, "cpu_limit": args.cpu_limit,
        "failed_spawns": sum(not r["spawned"] for r in runs),
        "submitted": len(submitted), "lost_submissions": len(submitted - arrived),
        "failed_submissions": args.learners - len(submitted),
        "spawn_p50_s": pct(spawn, 0.5), "spawn_p95_s": pct(spawn, 0.95), "spawn_max_s": max(spawn, default=float("nan")),
        "wall_s": wall, "total_s": time.monotonic() - t0,
        "mem_idle_mb": statistics.median(mb("mem_idle")) if mb("mem_idle") else None,
        "mem_lab00_mb": statistics.median(mb("mem_lab00")) if mb("mem_lab00") else None,
        "mem_level2_mb": statistics.median(mb("mem_level2")) if mb("mem_level2") else None,
        "mem_level2_max_mb": max(mb("mem_level2"), default=None),
        **{f"{k}_mb": (statistics.median(mb(k)) if mb(k) else None) for k in ("anon_idle", "anon_lab00", "anon_level2")},
        "anon_level2_max_mb": max(mb("anon_level2"), default=None),
        "errors": [e for r in runs for e in r["errors"]],
        "cpu": f"{os.cpu_count()}-core {platform.machine()}", "load_before": load_before, "load_after": load_after,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hub.json").write_text(json.dumps(result, indent=1))
    f = lambda v, d=1: "n/a" if v is None else f"{v:.{d}f}"  # noqa: E731
    md = [f"# Class hub benchmark ({args.learners} learners at once, {result['cpu']}, shared)", "",
          f"Throw-away hub on 127.0.0.1 (`ThrowawayHub`: PAM users, cgroup limits {args.mem_limit} / "
          f"{args.cpu_limit:g} CPU per learner). Every learner logs in, starts a server, fetches lab00 from the "
          "exchange, runs its first cells through the kernel API, imports a level-2 lesson's libraries and submits, "
          "all at the same time.", "",
          "| measure | value |", "|---|---|",
          f"| failed spawns | {result['failed_spawns']} of {args.learners} |",
          f"| submissions made / lost | {result['submitted']} / {result['lost_submissions']} |",
          f"| spawn time p50 / p95 / max | {f(result['spawn_p50_s'])} / {f(result['spawn_p95_s'])} / {f(result['spawn_max_s'])} s |",
          f"| all learners done (wall) | {f(result['wall_s'], 0)} s |",
          f"| learner's own memory, idle server (median) | {f(result['anon_idle_mb'], 0)} MiB |",
          f"| learner's own memory, after lab00's first cells (median) | {f(result['anon_lab00_mb'], 0)} MiB |",
          f"| learner's own memory, after a level-2 lesson's imports (median / max) | {f(result['anon_level2_mb'], 0)} / {f(result['anon_level2_max_mb'], 0)} MiB |",
          f"| cgroup memory incl. page cache, idle / lab00 / level-2 (median) | {f(result['mem_idle_mb'], 0)} / {f(result['mem_lab00_mb'], 0)} / {f(result['mem_level2_mb'], 0)} MiB |",
          f"| load average before / after (1, 5, 15 min) | {', '.join(f'{x:.1f}' for x in load_before)} / {', '.join(f'{x:.1f}' for x in load_after)} |",
          "", "A learner's own memory is the anonymous memory of their cgroup (server and kernel: what grows with each "
          "learner); the cgroup total adds page cache, which the limit counts too but which is shared (charged to "
          "whoever read a library file first). Spawn time runs from "
          "the API request to the server answering; on this shared 2-core machine it is dominated by CPU contention "
          "(the load average above), not by the hub.",
          ]
    if result["errors"]:
        md += ["", "Errors:", *[f"- {e}" for e in result["errors"][:20]]]
    (out / "hub.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if not result["failed_spawns"] and not result["lost_submissions"] else 1


if __name__ == "__main__":
    sys.exit(main())
