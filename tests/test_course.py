"""Course tooling: lab build/check, the learner release, lab start/submit, and the CLI's errors."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, run_medai
from medai_lib.course import labs as labs_mod

LABS = labs_mod.list_labs(ROOT)


def test_every_lab_has_a_release():
    assert LABS, "no labs in solutions/"
    assert LABS == labs_mod.list_labs(ROOT, kind="labs")


@pytest.fixture(scope="module")
def course_check():
    proc = run_medai("course", "check")
    return proc


def test_course_check_passes(course_check):
    """Fresh build equals labs/, nothing leaks, solutions full marks, releases zero, wrong answers lose
    exactly their cells' points (nbgrader's Validator and grader logic underneath)."""
    assert course_check.returncode == 0, course_check.stdout + course_check.stderr
    for lab in LABS:
        assert f"{lab}: ok" in course_check.stdout
    assert "points" in course_check.stdout


def test_wrong_answers_are_all_exercised(course_check):
    for lab in LABS:
        for wrong in labs_mod.load_wrong_answers(ROOT, lab):
            assert f"wrong answer '{wrong['misconception']}' loses" in course_check.stdout


def test_check_catches_a_hand_edited_release(tmp_path):
    root = tmp_path / "course"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns(".venv", ".git", "work", "__pycache__", "tests", "bench"))
    lab = LABS[0]
    nb_path = root / "labs" / lab / f"{lab}.ipynb"
    nb = json.loads(nb_path.read_text())
    nb["cells"][0]["source"] = "edited by hand"
    nb_path.write_text(json.dumps(nb))
    report = labs_mod.check_lab(root, lab, run_notebooks=False)
    assert any("differs from a fresh build" in p for p in report.problems)


def test_check_catches_a_leaked_solution(tmp_path):
    root = tmp_path / "course"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns(".venv", ".git", "work", "__pycache__", "tests", "bench"))
    lab = LABS[0]
    src = nbformat.read(root / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    secret = labs_mod._solution_lines(src)[0]
    nb_path = root / "labs" / lab / f"{lab}.ipynb"
    nb = json.loads(nb_path.read_text())
    nb["cells"][1]["source"] = "# " + secret
    nb_path.write_text(json.dumps(nb))
    report = labs_mod.check_lab(root, lab, run_notebooks=False)
    assert any("solution or hidden-test code" in p for p in report.problems)


def test_release_tree_holds_no_solutions(tmp_path):
    dest = tmp_path / "learner"
    proc = run_medai("course", "release", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert not (dest / "solutions").exists()
    assert not (dest / "tests").exists()
    assert (dest / "labs").is_dir() and (dest / "course").is_dir() and (dest / "medai_lib").is_dir()
    secrets = []
    for lab in LABS:
        secrets += labs_mod._solution_lines(nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4))
    assert secrets
    for path in dest.rglob("*"):
        if path.is_file() and path.suffix in {".ipynb", ".md", ".yml", ".txt"}:
            text = labs_mod._searchable_text(path.name, path.read_bytes())
            assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text, path
            if path.relative_to(dest).parts[0] == "labs":
                for s in secrets:
                    assert s not in text, f"{path} holds solution text {s!r}"
        assert "wrong_answers" not in path.name


def test_release_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    proc = run_medai("course", "release", str(tmp_path))
    assert proc.returncode == 2
    assert "not empty" in proc.stderr and (tmp_path / "keep.txt").read_text() == "mine"


def test_lab_start_never_overwrites_and_submit_is_zip_collectable(tmp_path):
    work = tmp_path / "work"
    lab = LABS[0]
    short = lab.split("_")[0]
    proc = run_medai("lab", "start", short, "--work", str(work))
    assert proc.returncode == 0, proc.stderr
    nb_path = work / lab / f"{lab}.ipynb"
    assert nb_path.exists()
    nb_path.write_text(nb_path.read_text().replace("YOUR CODE HERE", "MY WORK"))
    proc = run_medai("lab", "start", short, "--work", str(work))
    assert "kept your existing" in proc.stdout
    assert "MY WORK" in nb_path.read_text(), "lab start overwrote the learner's notebook"

    # The visible tests run first: unanswered tasks are listed and, without --force, nothing is submitted.
    proc = run_medai("lab", "submit", short, "--work", str(work), "--student", "alice")
    assert proc.returncode == 1 and "do not pass yet" in proc.stdout and "Not submitted" in proc.stdout, proc.stdout
    assert "not answered yet" in proc.stdout, proc.stdout
    assert not (work / "submissions").exists() or not list((work / "submissions").glob("*.ipynb"))
    proc = run_medai("lab", "submit", short, "--work", str(work), "--student", "alice", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "Submitting anyway" in proc.stdout
    submitted = sorted((work / "submissions").glob("*.ipynb"))
    assert len(submitted) == 1 and "_alice_attempt_" in submitted[0].name

    # nbgrader's own zip_collect, configured by the repository's nbgrader_config.py, reads it.
    course = tmp_path / "instructor"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copytree(ROOT / "labs", course / "labs")
    downloaded = course / "downloaded" / lab / "archive"
    downloaded.mkdir(parents=True)
    shutil.copy(submitted[0], downloaded)
    env_path = str(Path(sys.executable).parent)
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", "zip_collect", lab, "--force"], cwd=course, capture_output=True,
        text=True, env={"PATH": env_path + ":/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    collected = course / "submitted" / "alice" / lab / f"{lab}.ipynb"
    assert collected.exists(), proc.stdout + proc.stderr
    assert "MY WORK" in collected.read_text()


def test_lab_submit_says_when_every_visible_test_passes(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "grading"))
    import cases

    work = tmp_path / "work"
    lab = LABS[0]
    short = lab.split("_")[0]
    assert run_medai("lab", "start", short, "--work", str(work)).returncode == 0
    rel, answers, _ = cases.load(ROOT, lab)
    (work / lab / f"{lab}.ipynb").write_text(json.dumps(cases.solved(rel, answers)))
    proc = run_medai("lab", "submit", short, "--work", str(work), "--student", "bob")
    assert proc.returncode == 0 and "All visible tests pass" in proc.stdout, proc.stdout + proc.stderr
    assert len(list((work / "submissions").glob("*_bob_attempt_*.ipynb"))) == 1


def test_submit_rejects_a_broken_notebook(tmp_path):
    work = tmp_path / "work"
    lab = LABS[0]
    (work / lab).mkdir(parents=True)
    (work / lab / f"{lab}.ipynb").write_text("{ not json")
    proc = run_medai("lab", "submit", lab, "--work", str(work), "--student", "bob")
    assert proc.returncode == 2
    assert "not a valid notebook" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["lab", "start", "lab99"], "lab 'lab99' does not exist"),
        (["run", "no/such/notebook.ipynb"], "does not exist"),
        (["run", "course", "--device", "tpu"], "unknown device 'tpu'"),
        (["run", "course/00_orientation/01_welcome_to_jupyter.ipynb", "-p", "NOT_A_PARAM", "1"],
         "unknown parameter"),
    ],
)
def test_cli_errors_are_one_line(args, message):
    proc = run_medai(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_verbose_shows_the_traceback():
    proc = run_medai("--verbose", "lab", "start", "lab99")
    assert proc.returncode == 2 and "Traceback" in proc.stderr
