"""Grading the real labs: the adversarial matrix on lab00, and for every lab in labs/ (found by glob, so a
new lab is covered without editing this file) solution = full marks, release = zero, each committed wrong
answer loses exactly its cells' points, and a crash is reported."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from medai_lib.course.grading import grade_lab

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "grading"
sys.path.insert(0, str(FIXTURES))
import cases  # noqa: E402

LAB00 = "lab00_clinical_values"
REAL_LABS = sorted(p.name for p in (ROOT / "labs").glob("lab*") if (ROOT / "solutions" / p.name / f"{p.name}.ipynb").exists())


def _scores(summary):
    return summary.grades.set_index("student_id")["score"].astype(float).to_dict()


def _reasons(summary, sid):
    att = summary.attention
    return " | ".join(att.loc[att["student_id"] == sid, "reason"])


@pytest.mark.slow
def test_medai_grade_command_on_lab00_zip(tmp_path):
    """The command an instructor runs: a zip export, a roster, two at a time."""
    rel, answers, _ = cases.load(ROOT, LAB00)
    folder = tmp_path / "subs"
    cases.write(cases.solved(rel, answers), folder, LAB00, "ana")
    cases.write(rel, folder, LAB00, "ben")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in folder.iterdir():
            zf.write(p, f"lab00 export/{p.name}")
    (tmp_path / "roster.csv").write_text("student_id,first_name,last_name,email\nana,Ana,A,a@x.org\nben,Ben,B,b@x.org\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-m", "medai_lib.course.cli", "grade", "lab00", str(archive), "--roster",
         str(tmp_path / "roster.csv"), "--jobs", "2", "--out", str(tmp_path / "out"),
         "--db", f"sqlite:///{tmp_path / 'gradebook.db'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import pandas as pd

    grades = pd.read_csv(tmp_path / "out" / "grades.csv").set_index("student_id")
    assert grades.loc["ana", "score"] == grades.loc["ana", "max_score"] > 0
    assert grades.loc["ben", "score"] == 0
    assert (tmp_path / "out" / "feedback" / "ben" / f"{LAB00}.html").exists()
    assert "class report" in proc.stdout


@pytest.fixture(scope="module")
def lab00_matrix(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab00")
    subs = base / "subs"
    made = cases.matrix(ROOT, LAB00, subs, gradebook=str(ROOT / "gradebook.db"))
    rel, answers, _ = cases.load(ROOT, LAB00)
    full = cases.solved(rel, answers)
    nb = copy.deepcopy(full)
    cases.cell(nb, "flags_answer").source = "def flag_lab(value, low, high):\n    while True:\n        pass"
    cases.write(nb, subs, LAB00, "loop")
    nb = copy.deepcopy(full)
    cases.cell(nb, "flags_answer").source = ("import pandas as pd\n\ndef flag_lab(value, low, high):\n"
                                             "    _hog = bytearray(64 * 1024**3)\n    return 'normal'")
    cases.write(nb, subs, LAB00, "memory")
    summary = grade_lab(LAB00, subs, root=ROOT, jobs=2, cell_timeout=10, timeout=120, memory_mb=3072,
                        out=base / "out", db_url=f"sqlite:///{base / 'gradebook.db'}")
    return summary, made, subs


@pytest.mark.slow
def test_lab00_matrix(lab00_matrix):
    summary, made, subs = lab00_matrix
    s = _scores(summary)
    full = summary.grades["max_score"].max()
    assert s["full"] == full and s["release"] == 0 and s["stderr"] == full
    for sid in ("edited", "deleted", "duplicated", "metadata"):
        assert s[sid] == 0 and "restored" in _reasons(summary, sid), sid
    assert s["typechanged"] == full
    for sid in (k for k in made if k.startswith("patch-")):
        assert s[sid] == 0 and "tampering detected" in _reasons(summary, sid), sid
    assert s["crash"] < full and "kernel died" in _reasons(summary, "crash")
    assert s["memory"] < full and "memory" in _reasons(summary, "memory")
    q = summary.questions.set_index(["student_id", "grade_id"])["score"]
    assert q.loc[("loop", "test_flags")] == 0 and q.loc[("loop", "test_bmi")] == 1
    assert "per-cell limit" in _reasons(summary, "loop")
    assert s["snoop"] == 0
    executed = nbformat.read(summary.out_dir / "autograded" / "snoop" / f"{LAB00}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "FOUND []" in text and "NETWORK blocked" in text
    inputs = {p.name for p in subs.iterdir()}
    kept = {label for r in summary.results for label in r["labels"]} | set(summary.attention["file"])
    assert inputs <= kept


@pytest.mark.slow
@pytest.mark.parametrize("lab", REAL_LABS)
def test_every_lab_grades_as_designed(lab, tmp_path):
    """Solution full marks, release zero, committed wrong answers lose exactly their cells, a crash is reported."""
    rel, answers, tests = cases.load(ROOT, lab)
    subs = tmp_path / "subs"
    full = cases.solved(rel, answers)
    cases.write(full, subs, lab, "solution")
    cases.write(rel, subs, lab, "release")
    crash = copy.deepcopy(full)
    cases.answer_code_cells(crash, answers)[0].source += "\nimport os\nos._exit(1)"
    cases.write(crash, subs, lab, "crash")
    wrongs = cases.wrong_answers(ROOT, lab)
    for i, wrong in enumerate(wrongs):
        nb = copy.deepcopy(full)
        cases.cell(nb, wrong["cell"]).source = wrong["code"]
        cases.write(nb, subs, lab, f"wrong{i}")
    summary = grade_lab(lab, subs, root=ROOT, jobs=2, cell_timeout=300, timeout=900, out=tmp_path / "out",
                        db_url=f"sqlite:///{tmp_path / 'gb.db'}")
    s = _scores(summary)
    assert s["solution"] == summary.grades["max_score"].max() > 0
    assert s["release"] == 0
    assert s["crash"] < s["solution"] and "kernel died" in _reasons(summary, "crash")
    q = summary.questions
    for i, wrong in enumerate(wrongs):
        rows = q[q["student_id"] == f"wrong{i}"]
        lost = set(rows.loc[rows["score"] < rows["max_score"], "grade_id"])
        assert lost == set(wrong["loses"]), wrong["misconception"]
