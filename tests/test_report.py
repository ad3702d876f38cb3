"""The course report: `medai run --report`, budgets, peak GPU memory, AUC next to oracle and baseline, and
`medai report merge` combining runs, each part stamped with commit, date and device."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import run_medai
from medai_lib.course.report import check_budget, load_run, merge_reports, status_of, write_report
from medai_lib.course.runner import (
    GPU_PEAK_METRIC,
    NotebookResult,
    RunSummary,
    _with_gpu_peak_cell,
    declared_budget,
    git_commit,
)
from medai_lib.errors import MedaiInputError

# Okabe & Ito (2008) colour-blind-safe palette, plus black, white and greys for text and rules.
OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
NEUTRAL = {"#FFF", "#FFFFFF", "#000", "#555", "#555555", "#999", "#999999", "#CCC", "#CCCCCC", "#F2F2F2"}
COMMIT = "feedc0de" * 5
PARAMS = "QUICK = False\nDEVICE = 'auto'\nSEED = 0\nDATA_DIR = None"


def _nb(path: Path, code: list[str], budget: dict | None) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# t")])
    p = new_code_cell(PARAMS)
    p.metadata["tags"] = ["parameters"]
    nb.cells += [p, *(new_code_cell(c) for c in code)]
    nb.metadata["kernelspec"] = {"name": "medai", "display_name": "MedAI (Python 3)", "language": "python"}
    if budget is not None:
        nb.metadata["medai"] = {"budget": budget}
    nbformat.write(nb, path)
    return path


class _Rows(HTMLParser):
    """Table rows of the report as {class, cells (text), hrefs}."""

    def __init__(self):
        super().__init__()
        self.rows, self._row, self._cell, self.hrefs = [], None, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "class" in attrs:
            self._row = {"class": attrs["class"], "cells": [], "hrefs": []}
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "a":
            self.hrefs.append(attrs["href"])
            if self._row is not None:
                self._row["hrefs"].append(attrs["href"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None


def _rows(page: str) -> dict[str, dict]:
    parser = _Rows()
    parser.feed(page)
    return {row["cells"][0]: row for row in parser.rows}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Three small notebooks run once by `medai run --quick --report`, as `make run` does."""
    src = tmp_path_factory.mktemp("notebooks")
    _nb(src / "good.ipynb", [
        "from medai_lib import record\n"
        "record('auc', 0.80); record('oracle_auc', 0.90); record('baseline_auc', 0.60)\n"
        f"record('{GPU_PEAK_METRIC}', 1.5); record('n_patients', 120)"
    ], budget={"quick_cpu_s": 600, "full_gpu_min": 5, "gpu_memory_gb": 1.0})
    _nb(src / "slow.ipynb", ["x = sum(range(10))"],
        budget={"quick_cpu_s": 0.01, "full_gpu_min": 1, "gpu_memory_gb": 0})
    _nb(src / "bad.ipynb", ["raise RuntimeError('no data')"], budget=None)
    out = tmp_path_factory.mktemp("run")
    proc = run_medai("run", "good.ipynb", "slow.ipynb", "bad.ipynb", "--quick", "--jobs", "2", "--report",
                     "--out", str(out), cwd=src, env={"MEDAI_COMMIT": COMMIT})
    assert proc.returncode == 1, proc.stderr  # bad.ipynb fails
    assert f"Report: {out / 'report.html'}" in proc.stdout
    return out


def test_run_summary_holds_budgets_peak_memory_and_stamp(quick_run):
    saved = json.loads((quick_run / "summary.json").read_text())
    by_name = {r["notebook"]: r for r in saved["results"]}
    assert by_name["good.ipynb"]["budget"] == {"quick_cpu_s": 600, "full_gpu_min": 5, "gpu_memory_gb": 1.0}
    assert by_name["bad.ipynb"]["budget"] is None
    assert by_name["good.ipynb"]["gpu_peak_memory_gb"] == 1.5
    assert GPU_PEAK_METRIC not in by_name["good.ipynb"]["metrics"]
    assert by_name["good.ipynb"]["metrics"]["auc"] == 0.80
    assert saved["commit"] == COMMIT  # not a git checkout: the commit the host was told (MEDAI_COMMIT)
    assert re.search(r"\d+ CPU cores", saved["machine"])


def test_report_shows_status_budget_auc_and_links(quick_run):
    page = (quick_run / "report.html").read_text()
    assert "2 passed, 1 failed, 1 over budget, 1 without a declared budget" in page
    rows = _rows(page)
    assert set(rows) == {"good.ipynb", "slow.ipynb", "bad.ipynb"}
    good, slow, bad = rows["good.ipynb"], rows["slow.ipynb"], rows["bad.ipynb"]
    assert good["class"] == "passed" and "✔ passed" in good["cells"][1]
    assert slow["class"] == "over-budget" and "⚠ over budget" in slow["cells"][1]
    assert re.search(r"of 0\.0 s ⚠ \(quick, CPU\)", slow["cells"][2])
    assert bad["class"] == "failed" and "RuntimeError: no data" in bad["cells"][4]
    assert "no quick, CPU budget declared" in bad["cells"][2]
    assert "of 600.0 s" not in good["cells"][2] and "of 10.0 min (quick, CPU)" in good["cells"][2]
    # Model AUC next to oracle and baseline, and the share of the gap closed: (0.80-0.60)/(0.90-0.60) = 67 %.
    assert "model 0.800 · oracle 0.900 · baseline 0.600" in good["cells"][4]
    assert "closes 67% of the baseline-to-oracle gap" in good["cells"][4]
    assert "n_patients = 120" in good["cells"][4]
    assert "peak 1.50 GiB" in good["cells"][3]
    for row in rows.values():  # every notebook links to its executed copy
        assert len(row["hrefs"]) == 1 and (quick_run / row["hrefs"][0]).is_file()


def test_report_is_colour_blind_safe_and_readable(quick_run):
    page = (quick_run / "report.html").read_text()
    colours = {c.upper() for c in re.findall(r"#[0-9A-Fa-f]{6}\b|#[0-9A-Fa-f]{3}\b", page)}
    assert colours <= {c.upper() for c in OKABE_ITO | NEUTRAL}, colours - OKABE_ITO - NEUTRAL
    assert '<html lang="en">' in page and "<caption>" in page and "scope='col'" in page
    label = "AUC on a scale from 0.5 to 1: model 0.800, oracle 0.900, baseline 0.600"
    assert f"role='img' aria-label='{label}'" in page


def test_budget_checks_in_full_mode():
    def result(seconds, budget, peak=None, status="ok"):
        return NotebookResult("n.ipynb", status, seconds, None, budget=budget, gpu_peak_memory_gb=peak)

    full = {"quick_cpu_s": 30, "full_gpu_min": 5, "gpu_memory_gb": 8}
    assert not check_budget(result(299, full, 7.9), quick=False).over
    assert check_budget(result(301, full), quick=False).over_time  # 5 min = 300 s
    over_memory = check_budget(result(10, full, 8.5), quick=False)
    assert over_memory.over_memory and not over_memory.over_time
    assert status_of(result(10, full, 8.5), quick=False) == "over budget"
    assert not check_budget(result(10, full, 8.5), quick=True).over  # GPU memory is a full-mode budget
    assert check_budget(result(31, full), quick=True).over_time
    undeclared = check_budget(result(10_000, None), quick=False)
    assert not undeclared.declared and not undeclared.over
    assert not check_budget(result(10, {"full_gpu_min": None}), quick=False).declared
    assert status_of(result(1, full, status="failed"), quick=True) == "failed"


def test_declared_budget_reads_the_notebook_metadata(tmp_path):
    path = _nb(tmp_path / "a.ipynb", ["1"], budget={"quick_cpu_s": 45, "full_gpu_min": 3})
    assert declared_budget(path) == {"quick_cpu_s": 45, "full_gpu_min": 3, "gpu_memory_gb": None}
    assert declared_budget(_nb(tmp_path / "b.ipynb", ["1"], budget=None)) is None


def test_gpu_peak_cell_records_the_kernels_peak(tmp_path, monkeypatch):
    from medai_lib import recording

    src = _nb(tmp_path / "a.ipynb", ["x = 1"], budget=None)
    (tmp_path / "copy").mkdir()
    copy = _with_gpu_peak_cell(src, tmp_path / "copy")
    cells = nbformat.read(copy, as_version=4).cells
    assert len(cells) == 4 and cells[-1].metadata["tags"] == ["medai-gpu-peak"]
    assert len(nbformat.read(src, as_version=4).cells) == 3  # the learner's notebook is untouched
    cuda = types.SimpleNamespace(is_available=lambda: True, is_initialized=lambda: True,
                                 max_memory_allocated=lambda: 3 * 1024**3)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    monkeypatch.setattr(recording, "_RECORDED", {})
    exec(cells[-1].source, {})
    assert recording.recorded() == {GPU_PEAK_METRIC: 3.0}
    # Without an initialised GPU nothing is recorded (a CPU kernel, or torch never imported).
    cuda.is_initialized = lambda: False
    monkeypatch.setattr(recording, "_RECORDED", {})
    exec(cells[-1].source, {})
    assert recording.recorded() == {}


def test_git_commit_names_the_checkout(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (tmp_path / "f.txt").write_text("a")
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "c"], check=True)
    head = (tmp_path / ".git" / "refs" / "heads" / "main").read_text().strip()
    assert git_commit(tmp_path) == head and len(head) == 40
    (tmp_path / "f.txt").write_text("b")
    assert git_commit(tmp_path) == head + "+dirty"
    assert git_commit(tmp_path / "nowhere") is None


def _gpu_run(folder: Path, executed: Path) -> Path:
    """A full-mode run as a GPU host writes it (summary.json beside the executed notebook)."""
    folder.mkdir(parents=True)
    shutil.copy(executed, folder / "train.ipynb")
    result = NotebookResult("train.ipynb", "ok", 420.0, "/elsewhere/gpu-run/train.ipynb", device="cuda",
                            metrics={"auc": 0.86}, gpu_peak_memory_gb=12.25,
                            budget={"quick_cpu_s": 60, "full_gpu_min": 6, "gpu_memory_gb": 10})
    summary = RunSummary(
        out_dir="/elsewhere/gpu-run", started="2026-11-20T10:00:00+00:00", quick=False, device="cuda",
        commit="0123456789abcdef0123456789abcdef01234567",
        machine="NVIDIA H100 80GB HBM3 (80 GiB); 16 CPU cores", results=[result],
    )
    (folder / "summary.json").write_text(json.dumps(summary.to_json()))
    return folder


def test_merge_combines_runs_with_their_stamps(quick_run, tmp_path):
    moved = tmp_path / "committed" / "quick"
    shutil.copytree(quick_run, moved)  # a run folder copied elsewhere keeps its links
    gpu = _gpu_run(tmp_path / "committed" / "fibrosis", quick_run / "good.ipynb")
    page_path = merge_reports([moved, gpu], tmp_path / "committed", title="GPU runs")
    page = page_path.read_text()
    assert page_path == tmp_path / "committed" / "report.html"
    assert "<h1>GPU runs</h1>" in page and "Part 1: quick</h2>" in page and "Part 2: fibrosis</h2>" in page
    assert "3 passed, 1 failed, 2 over budget in 2 runs" in page
    assert "0123456789abcdef0123456789abcdef01234567" in page and "2026-11-20T10:00:00+00:00" in page
    assert "cuda; NVIDIA H100 80GB HBM3 (80 GiB); 16 CPU cores" in page
    assert f"<code>{COMMIT}</code>" in page
    rows = _rows(page)
    train = rows["train.ipynb"]
    assert train["class"] == "over-budget"
    assert "7.0 min of 6.0 min ⚠ (full, GPU)" in train["cells"][2]  # 420 s > 6 min
    assert "GPU memory 12.25 GiB of 10 GiB ⚠" in train["cells"][2]
    parser = _Rows()
    parser.feed(page)
    assert len(parser.hrefs) == 4 and all((page_path.parent / h).is_file() for h in parser.hrefs)
    assert all(h.startswith(("quick/", "fibrosis/")) for h in parser.hrefs)
    merged = json.loads((tmp_path / "committed" / "merged.json").read_text())
    assert [p["commit"] for p in merged["parts"]] == [COMMIT, "0123456789abcdef0123456789abcdef01234567"]


def test_merge_command_line(quick_run, tmp_path):
    proc = run_medai("report", "merge", str(quick_run), "--out", str(tmp_path / "merged"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "merged" / "report.html").is_file() and "Report:" in proc.stdout
    (tmp_path / "empty").mkdir()
    proc = run_medai("report", "merge", str(tmp_path / "empty"), "--out", str(tmp_path / "m2"))
    assert proc.returncode == 2
    assert "holds no summary.json" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(MedaiInputError, match="no run folder given"):
        merge_reports([], tmp_path)
    (tmp_path / "summary.json").write_text("{\"results\": []}")
    with pytest.raises(MedaiInputError, match=r"summary.json' is not a `medai run` summary"):
        load_run(tmp_path)


def test_write_report_to_a_chosen_path(quick_run, tmp_path):
    summary = load_run(quick_run)
    summary.commit = None
    page = write_report(summary, tmp_path / "elsewhere" / "r.html")
    assert "unknown (not a git checkout)" in page.read_text()
    hrefs = [row["hrefs"][0] for row in _rows(page.read_text()).values()]
    assert all((page.parent / h).resolve().is_file() for h in hrefs)
