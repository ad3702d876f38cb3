"""Grading robustness matrix on a tiny fixture lab (tests/fixtures/grading): every case is a synthetic
submission graded once, two at a time, by the same code path as `medai grade`."""
from __future__ import annotations

import ast
import copy
import csv
import json
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from medai_lib.course.grading import (
    collect_submissions, grade_lab, gradebook_scores, import_manual, read_roster, restore_cells, scan_code,
)
from medai_lib.course import grading, grading_sandbox
from medai_lib.errors import MedaiInputError

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
sys.path.insert(0, str(FIXTURES))
import cases  # noqa: E402

LAB = "lab90_tiny"
NB = f"{LAB}.ipynb"
FULL = 4.0  # autograded points of the tiny lab


PROBE_SECRETS = (
    "import glob, os\n"
    "print('ROOT', sorted(os.listdir('/')))\n"
    "_paths = [{home_file!r}, {sibling_file!r}, {tmp_file!r}, os.path.expanduser('~/.ssh/id_rsa')]\n"
    "_paths += glob.glob({home!r} + '/.medai-canary*') + glob.glob({sibling_dir!r} + '/**', recursive=True)\n"
    "_paths += glob.glob('/tmp/medai-canary*') + glob.glob('/tmp/**/*.txt', recursive=True)\n"
    "for _p in _paths:\n"
    "    try:\n"
    "        print(_p, open(_p).read())\n"
    "    except OSError as _e:\n"
    "        print(_p, type(_e).__name__)\n"
    "print('ENV', dict(os.environ))\n"
)
PROBE_ESCAPE = (
    "import os, subprocess\n"
    "for _p in ({home_escape!r}, {tmp_escape!r}, os.path.expanduser('~/escape.txt'), '/tmp/escape.txt'):\n"
    "    try:\n"
    "        open(_p, 'w').write('escaped')\n"
    "    except OSError as _e:\n"
    "        print(_p, type(_e).__name__)\n"
    "subprocess.Popen(['sleep', {sleep!r}], start_new_session=True)\n"
    "_started = 0\n"
    "try:\n"
    "    for _ in range(300):\n"
    "        subprocess.Popen(['sleep', '60']); _started += 1\n"
    "except OSError as _e:\n"
    "    print('PROCESSES stopped after', _started, type(_e).__name__)\n"
)


def _build(folder: Path, canaries: dict) -> dict[str, str]:
    """Write the matrix of submissions; returns {student: what it is}."""
    rel, answers, _ = cases.load(FIXTURES, LAB)
    full = cases.solved(rel, answers)
    made = {}

    def add(student, nb, what, stamp="20260301T120000"):
        cases.write(nb, folder, LAB, student, stamp)
        made[student] = what

    add("full", full, "full solution")
    add("full-again", copy.deepcopy(full), "the same full solution")
    add("release", rel, "unmodified release")
    nb = copy.deepcopy(rel)
    for gid in ("test_dose", "test_dose_hidden", "test_fever"):
        cases.cell(nb, gid).source = 'print("all tests passed")'
    add("edited", nb, "tests edited to pass")
    nb = copy.deepcopy(rel)
    nb.cells = [c for c in nb.cells if cases._gid(c) not in ("test_dose", "test_fever")]
    add("deleted", nb, "tests deleted")
    nb = copy.deepcopy(full)
    nb.cells = [c for c in nb.cells if cases._gid(c) not in ("test_dose", "test_fever")]
    add("deleted-full", nb, "tests deleted, answers right")
    nb = copy.deepcopy(rel)
    dup = copy.deepcopy(cases.cell(nb, "test_fever"))
    dup.source = 'print("passed")'
    nb.cells.insert(1, dup)
    add("duplicated", nb, "test cell duplicated before the original")
    nb = copy.deepcopy(full)
    cases.cell(nb, "test_fever").cell_type = "markdown"
    cases.cell(nb, "test_fever").pop("outputs", None)
    cases.cell(nb, "test_fever").pop("execution_count", None)
    answer = cases.cell(nb, "dose_answer")
    answer.cell_type = "markdown"
    answer.pop("outputs", None)
    answer.pop("execution_count", None)
    add("typechanged", nb, "test and answer cells turned into markdown")
    nb = copy.deepcopy(rel)
    for gid in ("test_dose", "test_fever"):
        cases.cell(nb, gid).metadata["nbgrader"].update(grade=False, points=100, solution=True, locked=False)
    add("metadata", nb, "test cells' nbgrader metadata altered")
    nb = copy.deepcopy(full)
    cases.cell(nb, "fever_answer").source = "def fever(temp_c):\n    while True:\n        pass"
    add("loop", nb, "infinite loop in one function")
    nb = copy.deepcopy(full)
    cases.cell(nb, "fever_answer").source = (
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n\n"
        "def fever(temp_c):\n    while True:\n        pass")
    add("stubborn", nb, "infinite loop that ignores the interrupt: its test and later cells time out")
    nb = copy.deepcopy(full)
    cases.cell(nb, "fever_answer").source = ("import os\n\ndef fever(temp_c):\n    os._exit(1)")
    add("crash", nb, "os._exit when a test calls it")
    nb = copy.deepcopy(full)
    cases.cell(nb, "fever_answer").source += "\nimport os\nos._exit(1)"
    add("exit-answer", nb, "os._exit in an answer cell itself")
    nb = copy.deepcopy(full)
    cases.cell(nb, "fever_answer").source += "\nwhile True:\n    pass"
    add("loop-answer", nb, "an endless loop in an answer cell itself")
    nb = copy.deepcopy(full)
    cases.cell(nb, "fever_answer").source = (
        "def fever(temp_c):\n    _hog = bytearray(6 * 1024**3)\n    return 'fever' if temp_c >= 38 else 'no fever'")
    add("memory", nb, "allocates 6 GiB")
    nb = copy.deepcopy(full)
    cases.cell(nb, "dose_answer").source = (
        "import sys, warnings\n\ndef dose_mg(weight_kg):\n    print('computing', file=sys.stderr)\n"
        "    warnings.warn('just a warning')\n    return 5 * weight_kg")
    add("stderr", nb, "writes to stderr")
    for name, code in cases.MONKEYPATCHES.items():
        nb = copy.deepcopy(rel)
        first = cases.cell(nb, "dose_answer")
        first.source = "def dose_mg(weight_kg):\n    return 0\n\n" + code
        cases.cell(nb, "fever_answer").source = "def fever(temp_c):\n    return 'no fever'"
        add(f"patch-{name.replace('_', '-')}", nb, f"monkeypatching: {name}")
    nb = copy.deepcopy(rel)
    cases.cell(nb, "dose_answer").source = (
        "import glob, os, socket\n"
        f"_targets = ['../solutions', '../../solutions', {str(FIXTURES / 'solutions')!r}, {str(folder)!r}]\n"
        "_found = [p for t in _targets for p in glob.glob(t + '/**/*', recursive=True)]\n"
        "_found += [p for p in glob.glob('/tmp/medai-grade-*/**/*.ipynb', recursive=True)]\n"
        "_found += [p for p in glob.glob('../**/*.db', recursive=True)]\n"
        "_found = [p for p in _found if not os.path.abspath(p).startswith(os.getcwd() + os.sep)]\n"
        "print('FOUND', _found)\n"
        "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=2); print('NETWORK open')\n"
        "except OSError as exc:\n    print('NETWORK blocked', exc)\n"
        "def dose_mg(weight_kg):\n"
        "    for p in _found:\n"
        "        if p.endswith('.ipynb') and 'BEGIN ' + 'SOLUTION' in open(p).read():\n"
        "            return 5 * weight_kg\n"
        "    return 0")
    add("snoop", nb, "reads ../solutions, other submissions, the gradebook; opens the network")
    nb = copy.deepcopy(full)
    cases.cell(nb, "dose_answer").source = PROBE_SECRETS.format(**canaries) + cases.cell(nb, "dose_answer").source
    add("secrets", nb, "lists /, reads the grader's home, a sibling course and /tmp")
    nb = copy.deepcopy(full)
    cases.cell(nb, "dose_answer").source = PROBE_ESCAPE.format(**canaries) + cases.cell(nb, "dose_answer").source
    add("escape", nb, "writes to the grader's home and /tmp, leaves a process behind, starts 300 processes")
    # Same learner, an earlier attempt: superseded, listed, not graded.
    cases.write(rel, folder, LAB, "full", "20260201T120000")
    # Broken inputs: invalid JSON, wrong file name, a notebook of the wrong name.
    (folder / f"{LAB}_broken_attempt_20260301T120000_{NB}").write_text("{ this is not json")
    (folder / "my_homework_final.ipynb").write_text(json.dumps(rel))
    (folder / f"{LAB}_misnamed_attempt_20260301T120000_Untitled.ipynb").write_text(json.dumps(full))
    return made


@pytest.fixture(scope="module")
def canaries(tmp_path_factory):
    """Secrets a submission must never read: in the grader's home, in a sibling course, in /tmp; and the host
    paths an escaping submission tries to write."""
    import secrets
    import tempfile

    token = secrets.token_hex(6)
    secret = f"CANARY-{secrets.token_hex(16)}"
    sibling = tmp_path_factory.mktemp("other-course") / "solutions"
    sibling.mkdir()
    found = {"home": str(Path.home()), "home_file": str(Path.home() / f".medai-canary-{token}"),
             "sibling_dir": str(sibling.parent), "sibling_file": str(sibling / "answer_key.txt"),
             "tmp_file": str(Path(tempfile.gettempdir()) / f"medai-canary-{token}.txt"),
             "home_escape": str(Path.home() / f".medai-escape-{token}"),
             "tmp_escape": str(Path(tempfile.gettempdir()) / f"medai-escape-{token}"),
             "sleep": f"{9000 + int(token[:3], 16) % 900}.5", "secret": secret}
    for key in ("home_file", "sibling_file", "tmp_file"):
        Path(found[key]).write_text(secret)
    yield found
    for key in ("home_file", "tmp_file", "home_escape", "tmp_escape"):
        Path(found[key]).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, canaries):
    base = tmp_path_factory.mktemp("grading")
    subs = base / "subs"
    made = _build(subs, canaries)
    roster = base / "roster.csv"
    with open(roster, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["student_id", "first_name", "last_name", "email"])
        for sid in [*made, "absent"]:
            w.writerow([sid, "A", sid.title(), f"{sid}@example.org"])
    db = f"sqlite:///{base / 'gradebook.db'}"
    summary = grade_lab(LAB, subs, root=FIXTURES, roster=roster, jobs=2, cell_timeout=4, timeout=20,
                        memory_mb=1536, out=base / "out", db_url=db)
    return {"summary": summary, "made": made, "subs": subs, "base": base, "db": db, "roster": roster}


def _score(graded, sid):
    grades = graded["summary"].grades.set_index("student_id")
    return float(grades.loc[sid, "score"])


def _reasons(graded, sid):
    att = graded["summary"].attention
    return " | ".join(att.loc[att["student_id"] == sid, "reason"])


def _result(graded, sid):
    return next(r for r in graded["summary"].results if r["student_id"] == sid)


def test_full_solution_full_marks_and_release_zero(graded):
    assert _score(graded, "full") == FULL
    assert _score(graded, "release") == 0
    assert _reasons(graded, "full").count("superseded") == 1


def test_same_submission_same_score_and_regrade_stable(graded, tmp_path):
    assert _score(graded, "full-again") == _score(graded, "full")
    # Grading again reuses the stored result of an unchanged submission; --regrade executes it again.
    subs = tmp_path / "two"
    subs.mkdir()
    for p in graded["subs"].glob(f"{LAB}_full_attempt_20260301*"):
        (subs / p.name).write_bytes(p.read_bytes())
    kwargs = dict(root=FIXTURES, jobs=1, cell_timeout=5, timeout=60, out=tmp_path / "out",
                  db_url=f"sqlite:///{tmp_path / 'gb.db'}")
    first = grade_lab(LAB, subs, **kwargs)
    cached = grade_lab(LAB, subs, **kwargs)
    again = grade_lab(LAB, subs, regrade=True, **kwargs)
    scores = [float(s.grades.set_index("student_id").loc["full", "score"]) for s in (first, cached, again)]
    assert scores == [FULL, FULL, FULL]
    assert cached.results[0]["key"] == first.results[0]["key"]
    assert gradebook_scores(kwargs["db_url"], LAB) == {"full": FULL}


@pytest.mark.parametrize("sid", ["edited", "deleted", "duplicated", "metadata"])
def test_tampered_graded_cells_are_restored(graded, sid):
    assert _score(graded, sid) == 0, graded["made"][sid]
    assert "restored" in _reasons(graded, sid)


def test_restored_cells_keep_right_answers(graded):
    assert _score(graded, "deleted-full") == FULL
    assert _score(graded, "typechanged") == FULL
    assert "changed type" in _reasons(graded, "typechanged")
    # The altered metadata did not change the points on offer.
    assert graded["summary"].grades.set_index("student_id").loc["metadata", "max_score"] == FULL


def test_infinite_loop_times_out_alone(graded):
    q = graded["summary"].questions.set_index(["student_id", "grade_id"])["score"]
    assert q.loc[("loop", "test_fever")] == 0
    assert q.loc[("loop", "test_dose")] == 1 and q.loc[("loop", "test_dose_hidden")] == 1
    assert "per-cell limit" in _reasons(graded, "loop")


def test_uninterruptible_loop_times_out_without_false_tampering(graded):
    assert _score(graded, "stubborn") == 2  # the first task's tests ran before the endless loop
    assert "per-cell limit" in _reasons(graded, "stubborn")
    assert "tampering" not in _reasons(graded, "stubborn")


def test_wall_clock_limit_kills_a_stubborn_kernel(tmp_path):
    rel, answers, _ = cases.load(FIXTURES, LAB)
    nb = cases.solved(rel, answers)
    cases.cell(nb, "fever_answer").source = "while True:\n    pass"
    cases.write(nb, tmp_path / "subs", LAB, "slow")
    summary = grade_lab(LAB, tmp_path / "subs", root=FIXTURES, jobs=1, cell_timeout=60, timeout=8,
                        out=tmp_path / "out", db_url=f"sqlite:///{tmp_path / 'gb.db'}")
    res = summary.results[0]
    assert "wall-clock limit of 8 s exceeded in cell 'fever_answer'" in " ".join(res["reasons"])
    assert float(summary.grades["score"].iloc[0]) == 2 and res["seconds"] < 30


def test_crash_and_memory_reported_never_full_marks(graded):
    for sid, word in (("crash", "kernel died"), ("memory", "memory")):
        assert _score(graded, sid) < FULL
        assert word in _reasons(graded, sid), _reasons(graded, sid)
    # The tests before the crash still count.
    q = graded["summary"].questions.set_index(["student_id", "grade_id"])["score"]
    assert q.loc[("crash", "test_dose")] == 1


def test_the_cell_that_killed_the_kernel_is_named(graded):
    reasons = _reasons(graded, "exit-answer")
    assert "kernel died" in reasons and "in cell 'fever_answer'" in reasons, reasons
    assert _score(graded, "exit-answer") == 2  # task 1's tests ran before the crash


def test_a_timeout_in_an_answer_cell_is_flagged(graded):
    reasons = _reasons(graded, "loop-answer")
    # Interrupted (the cell fails alone) or, when the kernel does not answer after the interrupt, stopped:
    # either way the cell is named and the submission flagged.
    assert "per-cell limit" in reasons and "'fever_answer'" in reasons, reasons
    grades = graded["summary"].grades.set_index("student_id")
    assert grades.loc["loop-answer", "status"] == "attention"


def test_learner_and_grader_kernels_share_reproducibility_settings():
    """The learner's "medai" kernel and the grader's sandboxed kernel run with the same thread count and hash
    seed, so a lab's numbers in the learner's notebook are those the grader's rerun checks."""
    from jupyter_client.kernelspec import KernelSpecManager

    from medai_lib.course.grading import _KERNEL_ENV
    from medai_lib.course.kernel import KERNEL_NAME, REPRODUCIBLE_ENV

    learner = KernelSpecManager().get_kernel_spec(KERNEL_NAME).env
    for key, value in REPRODUCIBLE_ENV.items():
        assert learner.get(key) == value == _KERNEL_ENV[key], key


def test_stderr_output_is_not_a_false_zero(graded):
    assert _score(graded, "stderr") == FULL


@pytest.mark.parametrize("name", sorted(cases.MONKEYPATCHES))
def test_monkeypatching_gets_no_marks(graded, name):
    sid = f"patch-{name.replace('_', '-')}"
    assert _score(graded, sid) == 0
    assert "tampering detected" in _reasons(graded, sid), _reasons(graded, sid)


def test_snooping_finds_nothing(graded):
    assert _score(graded, "snoop") == 0
    executed = nbformat.read(graded["summary"].out_dir / "autograded" / "snoop" / NB, as_version=4)
    answer = next(c for c in executed.cells if cases._gid(c) == "dose_answer")
    text = "".join(o.get("text", "") for o in answer.outputs)
    found = next(line for line in text.splitlines() if line.startswith("FOUND"))
    assert found == "FOUND []"
    assert "NETWORK blocked" in text
    assert "tried to leave the sandbox" in _reasons(graded, "snoop") and "solutions" in _reasons(graded, "snoop")


def _everything_written(out_dir: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in out_dir.rglob("*") if p.is_file())


def test_secrets_never_reach_output(graded, canaries):
    out_dir = graded["summary"].out_dir
    assert canaries["secret"] not in _everything_written(out_dir)
    executed = nbformat.read(out_dir / "autograded" / "secrets" / NB, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
    # The probe ran (its answer still earns full marks) and saw only the sandbox.
    root = next(line for line in text.splitlines() if line.startswith("ROOT"))
    listed = set(ast.literal_eval(root[5:]))  # a printed list of folder names
    # What the sandbox binds: system folders plus the first component of every bound path (the venv, the
    # library, the grader's folders live wherever the checkout is, e.g. /work or /check).
    bound = {"bin", "dev", "etc", "lib", "lib32", "lib64", "proc", "sbin", "sys", "tmp", "usr"}
    roots = grading_sandbox.allowed_roots(out_dir, graded["base"], grading._shared_data_dirs())
    bound |= {Path(p).parts[1] for p in roots}
    assert listed <= bound, listed - bound
    # The host's own root holds folders the sandbox does not bind; none of them is seen.
    unbound = {p.name for p in Path("/").iterdir()} - bound
    assert unbound and not (listed & unbound), listed & unbound
    for key in ("home_file", "sibling_file", "tmp_file"):
        assert f"{canaries[key]} FileNotFoundError" in text
    assert _score(graded, "secrets") == FULL
    # Each attempt is flagged (paths under /tmp are the kernel's own private /tmp, so not an attempt).
    reasons = _reasons(graded, "secrets")
    assert "listed the root folder" in reasons and canaries["home_file"] in reasons, reasons
    # The grader's own environment (tokens, paths) is not the kernel's.
    assert "MEDAI_RUNS" not in text and "PYTEST_CURRENT_TEST" not in text


def test_escapes_leave_nothing_behind(graded, canaries):
    for key in ("home_escape", "tmp_escape"):
        assert not Path(canaries[key]).exists()
    assert not (Path.home() / "escape.txt").exists()
    alive = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if canaries["sleep"].encode() in cmdline.read_bytes():
                alive.append(cmdline.parent.name)
        except OSError:
            pass
    assert alive == []
    executed = nbformat.read(graded["summary"].out_dir / "autograded" / "escape" / NB, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
    started = int(text.split("PROCESSES stopped after", 1)[1].split()[0])
    assert started < 200
    assert "started a process" in _reasons(graded, "escape")
    assert _score(graded, "escape") == FULL


def test_no_submission_is_lost(graded):
    summary = graded["summary"]
    inputs = {p.relative_to(graded["subs"]).as_posix() for p in graded["subs"].rglob("*") if p.is_file()}
    graded_files = {label for r in summary.results for label in r["labels"]}
    listed = set(summary.attention["file"]) - {""}
    assert inputs == graded_files | listed
    reasons = _reasons(graded, "broken") + _reasons(graded, "misnamed")
    assert "invalid notebook" in reasons and "wrong notebook name" in reasons
    assert "not recognised" in " ".join(summary.attention["reason"])
    assert "no submission" in _reasons(graded, "absent")
    grades = summary.grades.set_index("student_id")
    assert grades.loc["absent", "status"] == "no submission" and grades.loc["absent", "score"] == 0


def test_gradebook_merge_matches_grades_csv(graded):
    from_db = gradebook_scores(graded["db"], LAB)
    grades = graded["summary"].grades.set_index("student_id")
    for sid, score in from_db.items():
        assert score == pytest.approx(grades.loc[sid, "score"])
    csv_rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader(open(graded["summary"].grades_csv))}
    assert csv_rows["full"] == FULL and csv_rows["absent"] == 0


def test_feedback_hides_hidden_tests_by_default(graded, tmp_path):
    from medai_lib.course.grading_report import write_feedback

    page = (graded["summary"].out_dir / "feedback" / "release" / f"{LAB}.html").read_text()
    assert "dose_mg(12.5)" not in page and "BEGIN HIDDEN TESTS" not in page
    assert "not answered yet" in page
    res = _result(graded, "release")
    from medai_lib.course.grading import build_master

    shown = write_feedback(tmp_path / "f.html", LAB, res, build_master(FIXTURES, LAB), show_hidden=True).read_text()
    assert "dose_mg(12.5)" in shown


def test_feedback_gives_value_and_hint(graded, tmp_path):
    subs = tmp_path / "s"
    rel, answers, _ = cases.load(FIXTURES, LAB)
    nb = cases.solved(rel, answers)
    cases.cell(nb, "dose_answer").source = "def dose_mg(weight_kg):\n    return weight_kg / 5"
    cases.write(nb, subs, LAB, "divider")
    summary = grade_lab(LAB, subs, root=FIXTURES, jobs=1, cell_timeout=5, timeout=60, out=tmp_path / "out",
                        db_url=f"sqlite:///{tmp_path / 'gb.db'}")
    page = (tmp_path / "out" / "feedback" / "divider" / f"{LAB}.html").read_text()
    assert "returned 14" in page and "multiply the weight by 5" in page and "divided instead of multiplied" in page
    # Plain words for a clinician: what each test checks, the check's own message; no test code, no Python
    # exception names for a failed check.
    assert "a 70 kg patient" in page
    assert "expect_close(" not in page and "CheckFailed" not in page and "test code" not in page
    report = summary.report_html.read_text()
    assert "divided instead of multiplied" in report and "data:image/png;base64" in report


def test_feedback_quotes_the_learners_own_run_where_the_rerun_differs(tmp_path):
    """A learner whose notebook showed a test passing (outputs from an earlier state of their kernel) but whose
    fresh run fails is told so, with the grader's message; the score is the rerun's alone."""
    import nbformat as nbf

    rel, answers, _ = cases.load(FIXTURES, LAB)
    nb = cases.solved(rel, answers)
    cases.cell(nb, "dose_answer").source = "def dose_mg(weight_kg):\n    return weight_kg / 5"
    test = cases.cell(nb, "test_dose")
    test.execution_count = 3
    test.outputs = [nbf.v4.new_output("stream", name="stdout", text="Task 1: visible test passed.\n")]
    fever = cases.cell(nb, "test_fever")
    fever.execution_count = 4
    fever.outputs = [nbf.v4.new_output("error", ename="NameError", evalue="name 'fever' is not defined",
                                       traceback=[])]
    cases.cell(nb, "fever_answer").source = "def fever(temp_c):\n    return 'fever'"
    cases.write(nb, tmp_path / "s", LAB, "stale")
    summary = grade_lab(LAB, tmp_path / "s", root=FIXTURES, jobs=1, cell_timeout=5, timeout=60,
                        out=tmp_path / "out", db_url=f"sqlite:///{tmp_path / 'gb.db'}")
    assert float(summary.grades["score"].iloc[0]) == 0
    page = (tmp_path / "out" / "feedback" / "stale" / f"{LAB}.html").read_text()
    assert "In your own notebook this test passed" in page and "returned 14" in page
    assert "Your own run said: the test uses a name your notebook does not define" in page


def test_plain_feedback_messages():
    from medai_lib.course.grading_report import plain_message, test_description

    assert plain_message("CheckFailed: dose_mg(70) returned 14; expected 350.") == "dose_mg(70) returned 14; expected 350."
    assert plain_message("NameError: name 'bmi' is not defined").startswith("the test uses a name your notebook")
    assert "Python said: RecursionError" in plain_message("RecursionError: maximum recursion depth exceeded")
    assert plain_message("NotImplementedError: ").startswith("not answered yet")
    assert test_description("# Test: one patient (1 point)\n# second line\nexpect_close(1, 1)") == \
        "one patient (1 point) second line"


def test_manual_grading_round_trip(graded, tmp_path):
    path = graded["summary"].manual_csv
    rows = list(csv.DictReader(open(path)))
    full_row = next(r for r in rows if r["student_id"] == "full")
    assert full_row["grade_id"] == "why" and "Rubric (1 point)" in full_row["rubric"]
    release_row = next(r for r in rows if r["student_id"] == "release")
    assert release_row["answer"] == "YOUR ANSWER HERE" and release_row["max_points"] == "1.0"
    filled = tmp_path / "scores.csv"
    with open(filled, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "score": "1" if r["student_id"] == "full" else ""})
    before = gradebook_scores(graded["db"], LAB)["full"]
    assert import_manual(filled, db_url=graded["db"]) == 1
    assert gradebook_scores(graded["db"], LAB)["full"] == before + 1
    bad = tmp_path / "bad.csv"
    with open(bad, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerow({**full_row, "score": "5"})
    with pytest.raises(MedaiInputError, match="outside 0 to 1"):
        import_manual(bad, db_url=graded["db"])


def test_zip_collect_and_bad_zip(tmp_path):
    rel, answers, _ = cases.load(FIXTURES, LAB)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"../../evil/{LAB}_eve_attempt_20260301T120000_{NB}", json.dumps(cases.solved(rel, answers)))
        zf.writestr("notes.txt", "hello")
    subs, attention = collect_submissions(archive, notebooks=[NB], staging=tmp_path / "stage")
    assert [s.student_id for s in subs] == ["eve"]
    assert Path(subs[0].files[NB]).resolve().is_relative_to((tmp_path / "stage").resolve())
    assert [a["file"] for a in attention] == ["notes.txt"]
    (tmp_path / "bad.zip").write_text("not a zip")
    with pytest.raises(MedaiInputError, match="not a valid zip"):
        collect_submissions(tmp_path / "bad.zip", notebooks=[NB])


def test_restore_cells_unit():
    rel, answers, _ = cases.load(FIXTURES, LAB)
    from medai_lib.course.grading import build_master

    master = nbformat.reads(build_master(FIXTURES, LAB)[NB]["nb"], as_version=4)
    nb = cases.solved(rel, answers)
    extra = nbformat.v4.new_code_cell("x = 1")
    nb.cells.insert(4, extra)
    out, notes = restore_cells(nb, master)
    assert notes == [] or all("edited" not in n for n in notes)
    sources = [c.source for c in out.cells]
    assert "x = 1" in sources
    hidden = next(c for c in out.cells if cases._gid(c) == "test_dose_hidden")
    assert "dose_mg(12.5)" in hidden.source  # hidden tests come back from the master


def test_scan_code_flags_machinery():
    assert "get_ipython" in scan_code("get_ipython().events")
    assert "assigns math.isclose" in scan_code("import math\nmath.isclose = print")
    assert scan_code("def bmi(w, h):\n    return w / h ** 2") == []


def test_bad_arguments():
    with pytest.raises(MedaiInputError, match="jobs must be an integer"):
        grade_lab(LAB, FIXTURES, root=FIXTURES, jobs=0)
    with pytest.raises(MedaiInputError, match="do not exist"):
        collect_submissions(FIXTURES / "nope", notebooks=[NB])
    with pytest.raises(MedaiInputError, match="does not exist in labs"):
        grade_lab("lab77", FIXTURES, root=FIXTURES)


def test_roster_needs_ids(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("student_id,first_name\n,Ann\n")
    with pytest.raises(MedaiInputError, match="line 2 has no student_id"):
        read_roster(path)


def test_medai_grade_command(tmp_path):
    """The command an instructor runs, on a zip export with a roster (the tiny lab as the course)."""
    import os
    import subprocess

    rel, answers, _ = cases.load(FIXTURES, LAB)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for sid, nb in (("ana", cases.solved(rel, answers)), ("ben", rel)):
            zf.writestr(f"export/{LAB}_{sid}_attempt_20260301T120000_{NB}", nbformat.writes(nb))
    (tmp_path / "roster.csv").write_text("student_id,last_name\nana,A\nben,B\ncid,C\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", MEDAI_COURSE_ROOT=str(FIXTURES))
    proc = subprocess.run(
        [sys.executable, "-m", "medai_lib.course.cli", "grade", "lab90", str(archive), "--roster",
         str(tmp_path / "roster.csv"), "--jobs", "2", "--cell-timeout", "20", "--out", str(tmp_path / "out"),
         "--db", f"sqlite:///{tmp_path / 'gradebook.db'}"],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["student_id"]: r for r in csv.DictReader(open(tmp_path / "out" / "grades.csv"))}
    assert float(rows["ana"]["score"]) == FULL and float(rows["ben"]["score"]) == 0
    assert rows["cid"]["status"] == "no submission"
    assert "cid" in proc.stdout and "on the roster but no submission" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "medai_lib.course.cli", "grade", "lab90", str(tmp_path / "none"),
                          "--out", str(tmp_path / "out2")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "do not exist" in bad.stderr
    assert not (tmp_path / "out2").exists() and not (FIXTURES / "autograded").exists()


def test_cli_registers_grade():
    from medai_lib.course.cli import build_parser

    args = build_parser().parse_args(["grade", "lab00", "subs.zip", "--jobs", "3", "--show-hidden"])
    assert args.jobs == 3 and args.show_hidden and args.func.__name__ == "cmd_grade"


def test_guard_reports_and_undoes_patches(capsys):
    """The integrity check in isolation (outside a kernel): patches are reported and undone."""
    import math

    import medai_lib.course.checks as checks
    from medai_lib.course import grading_guard

    original_isclose, original_code = math.isclose, checks.expect_close.__code__
    grading_guard.snapshot()
    grading_guard.check("n0")
    assert capsys.readouterr().out.strip() == "MEDAI-GUARD n0 []"
    try:
        math.isclose = lambda *a, **k: True
        checks.expect_close.__code__ = (lambda *a, **k: None).__code__
        grading_guard.check("n1")
    finally:
        restored = (math.isclose is original_isclose, checks.expect_close.__code__ is original_code)
        math.isclose, checks.expect_close.__code__ = original_isclose, original_code
    line = capsys.readouterr().out.strip()
    assert line.startswith("MEDAI-GUARD n1 ")
    findings = json.loads(line.split(" ", 2)[2])
    assert "math.isclose was replaced" in findings
    assert "the code of medai_lib.course.checks.expect_close was replaced" in findings
    assert restored == (True, True)
