"""Shared fixtures: every notebook under course/ and solutions/ is executed once per test session, in quick
mode, by the same command a user runs (`medai run --quick --jobs 2`); tests read its summary."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HUB_PROXY = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"


def hub_test_marks(what: str) -> list:
    """What a test with a real class hub needs (real Linux users, the proxy, the grading sandbox): skip marks
    naming the missing piece."""
    import shutil

    return [
        pytest.mark.server,
        pytest.mark.timeout(900),
        pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                           reason=f"{what} creates real Linux users: run it as root (CI does)"),
        pytest.mark.skipif(not HUB_PROXY.exists(),
                           reason=f"configurable-http-proxy missing ({HUB_PROXY}): run `make hub-deps`"),
        pytest.mark.skipif(shutil.which("useradd") is None or shutil.which("bwrap") is None,
                           reason="needs useradd (passwd) and bubblewrap (the grading sandbox)"),
    ]
MEDAI = [sys.executable, "-m", "medai_lib.course.cli"]


def all_notebooks() -> list[Path]:
    """Course notebooks and lab solutions, found by glob so new notebooks are covered automatically."""
    found = []
    for folder in ("course", "solutions"):
        found += sorted(
            p for p in (ROOT / folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
        )
    return found


def run_medai(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 3000):
    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", "1")
    full_env.setdefault("MPLBACKEND", "Agg")
    if env:
        full_env.update(env)
    return subprocess.run([*MEDAI, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def notebook_run(tmp_path_factory):
    """Execute every notebook once (quick mode, two at a time) and return the run summary."""
    out = tmp_path_factory.mktemp("notebook-run")
    data = tmp_path_factory.mktemp("medai-data")
    medai_data = os.environ.get("MEDAI_DATA", str(data))
    proc = run_medai("run", "course", "solutions", "--quick", "--jobs", "2", "--timeout", "900", "--out", str(out),
                     env={"MEDAI_DATA": medai_data})
    summary_path = out / "summary.json"
    assert summary_path.exists(), f"medai run wrote no summary:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    summary = json.loads(summary_path.read_text())
    summary["medai_data"] = medai_data
    summary["stdout"] = proc.stdout
    summary["returncode"] = proc.returncode
    print(proc.stdout[-4000:])
    return summary
