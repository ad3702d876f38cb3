"""Labs: build the learner version from the solutions (nbgrader), check it, release the learner tree,
and the learner's own ``lab start`` / ``lab submit``.

nbgrader's layout is the repository's: ``solutions/<lab>/<lab>.ipynb`` is the source (solutions, visible
and hidden tests), ``labs/<lab>/`` the generated release. Each lab may carry ``wrong_answers.yml``: typical
misconceptions, each replacing one answer cell, that must lose the points of the named test cells and no
others. That file never reaches learners.
"""
from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from medai_lib._version import __version__
from medai_lib.errors import MedaiError, MedaiInputError

log = logging.getLogger(__name__)

WRONG_ANSWERS_FILE = "wrong_answers.yml"
#: Files in a lab's source folder that stay with the instructors.
INSTRUCTOR_ONLY = (WRONG_ANSWERS_FILE, "rubric.md")
FORBIDDEN_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
SUBMISSION_RE = re.compile(
    r".*_(?P<student_id>[A-Za-z0-9.-]+)_attempt_(?P<timestamp>[0-9]{8}T[0-9]{6})_(?P<file_id>.+)"
)


class LabCheckError(MedaiError):
    """A lab failed ``medai course check``."""


def repo_root(start: str | os.PathLike | None = None) -> Path:
    """The course root: the nearest folder above ``start`` (default: cwd) holding ``nbgrader_config.py``
    or ``labs/``; ``$MEDAI_COURSE_ROOT`` wins when set."""
    env = os.environ.get("MEDAI_COURSE_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").exists() or ((folder / "labs").is_dir() and (folder / "course").is_dir()):
            return folder
    raise MedaiInputError(
        f"no course found at or above '{here}'; run this inside the course folder (the one holding labs/)."
    )


def list_labs(root: Path, *, kind: str = "solutions") -> list[str]:
    """Lab names found in ``root/solutions`` (or ``root/labs``), sorted."""
    folder = root / kind
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def resolve_lab(root: Path, name: str, *, kind: str = "labs") -> str:
    """Accept ``lab00`` or the full ``lab00_clinical_values``; error if none or several match."""
    labs = list_labs(root, kind=kind)
    if name in labs:
        return name
    matches = [lab for lab in labs if lab.startswith(name + "_") or lab.split("_")[0] == name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise MedaiInputError(
            f"lab '{name}' does not exist in {kind}/; available: {', '.join(labs) or 'none'}."
        )
    raise MedaiInputError(f"lab '{name}' is ambiguous: {', '.join(matches)}; give the full name.")


# --------------------------------------------------------------------------------------------- build
def _nbgrader_env() -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader runs the `alembic` executable when it creates a gradebook: the environment's bin/ must be on PATH.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _copy_source(src: Path, dest: Path) -> None:
    shutil.copytree(
        src, dest, ignore=shutil.ignore_patterns(*INSTRUCTOR_ONLY, ".ipynb_checkpoints", "__pycache__", "*.pyc")
    )


def generate_release(root: Path, lab: str, dest: Path) -> Path:
    """Run ``nbgrader generate_assignment`` for ``lab`` in a private temporary course and copy the
    release to ``dest/lab``. The repository's gradebook is never touched. Returns ``dest/lab``."""
    src = root / "solutions" / lab
    if not (src / f"{lab}.ipynb").exists():
        raise MedaiInputError(f"solutions/{lab}/{lab}.ipynb not found; a lab's notebook is named after its folder.")
    with tempfile.TemporaryDirectory(prefix="medai-build-") as tmp:
        tmp = Path(tmp)
        _copy_source(src, tmp / "source" / lab)
        cmd = [
            sys.executable, "-m", "nbgrader", "generate_assignment", lab, "--force", "--log-level=ERROR",
            f"--CourseDirectory.root={tmp}",
            "--CourseDirectory.source_directory=source",
            "--CourseDirectory.release_directory=release",
            f"--CourseDirectory.db_url=sqlite:///{tmp / 'gradebook.db'}",
        ]
        proc = subprocess.run(cmd, cwd=tmp, env=_nbgrader_env(), capture_output=True, text=True)
        released = tmp / "release" / lab
        if proc.returncode != 0 or not released.is_dir():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise MedaiError(f"nbgrader could not generate lab '{lab}': " + " | ".join(tail))
        for nb_path in released.glob("*.ipynb"):
            _stamp(nb_path, lab)
        target = dest / lab
        if target.exists():
            shutil.rmtree(target)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copytree(released, target)
    return target


def _stamp(nb_path: Path, lab: str) -> None:
    data = json.loads(nb_path.read_text())
    data.setdefault("metadata", {}).setdefault("medai", {}).update({"lab": lab, "course_version": __version__})
    nb_path.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n")


def build_labs(root: Path | None = None, labs: list[str] | None = None) -> list[Path]:
    """Regenerate ``labs/`` from ``solutions/`` (all labs, or the ones named)."""
    root = root or repo_root()
    names = [resolve_lab(root, n, kind="solutions") for n in labs] if labs else list_labs(root)
    if not names:
        raise MedaiInputError(f"no labs in {root / 'solutions'} (expected solutions/<lab>/<lab>.ipynb).")
    return [generate_release(root, lab, root / "labs") for lab in names]


# --------------------------------------------------------------------------------------------- scoring
def grade_cells(nb) -> list[dict]:
    """Autograded test cells and manually graded cells of a notebook with their points."""
    cells = []
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            cells.append(
                {
                    "index": i,
                    "grade_id": meta.get("grade_id"),
                    "points": float(meta.get("points", 0)),
                    "manual": bool(meta.get("solution")) or cell.cell_type == "markdown",
                }
            )
    return cells


def execute_and_score(nb_path: Path, *, timeout: int = 300, replace: dict[str, str] | None = None) -> dict:
    """Execute a lab notebook as nbgrader's autograder does and score each autograded cell.

    ``replace`` maps a solution cell's grade_id to new source (a committed wrong answer).
    Returns ``{"scores": {grade_id: (score, max)}, "errors": {grade_id: text}}``.
    """
    import nbformat
    from nbgrader.preprocessors import ClearOutput, Execute
    from nbgrader.utils import determine_grade, is_grade

    nb = nbformat.read(nb_path, as_version=4)
    if replace:
        found = set()
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in replace:
                cell.source = replace[gid]
                found.add(gid)
        missing = set(replace) - found
        if missing:
            raise LabCheckError(f"{nb_path}: wrong answer names unknown cell(s) {sorted(missing)}.")
    resources: dict[str, Any] = {"metadata": {"path": str(nb_path.parent)}}
    nb, resources = ClearOutput().preprocess(nb, resources)
    from medai_lib.course.kernel import ipc_kernel_manager_class

    executor = Execute(timeout=timeout, interrupt_on_timeout=True, kernel_manager_class=ipc_kernel_manager_class())
    executor.execute_retries = 0
    cwd = os.getcwd()
    try:
        os.chdir(nb_path.parent)
        nb, resources = executor.preprocess(nb, resources)
    finally:
        os.chdir(cwd)
    scores, errors = {}, {}
    for cell in nb.cells:
        if not is_grade(cell) or cell.cell_type != "code":
            continue
        meta = cell.metadata.nbgrader
        if meta.get("solution"):
            continue
        score, max_score = determine_grade(cell)
        scores[meta["grade_id"]] = (score, max_score)
        text = []
        for output in cell.outputs:
            if output.output_type == "error":
                text.append(f"{output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                text.append(output.text)
        if text:
            errors[meta["grade_id"]] = "\n".join(text)
    return {"scores": scores, "errors": errors}


def validate(nb_path: Path, *, invert: bool = False, timeout: int = 300) -> dict:
    """nbgrader's Validator, with its result read (the ``nbgrader validate`` CLI exits 0 on failures).

    ``timeout`` is seconds per cell. nbgrader's own default (30 s) is a speed test, not a safety net: on a busy
    machine a correct lab would fail its check.
    """
    from nbgrader.validator import Validator

    from traitlets.config import Config

    config = Config({"Execute": {"kernel_manager_class": "medai_lib.course.ipc.IpcKernelManager",
                                 "timeout": timeout}})
    validator = Validator(invert=invert, config=config)
    return validator.validate(str(nb_path))


# --------------------------------------------------------------------------------------------- check
@dataclass
class LabReport:
    lab: str
    points: float = 0.0
    autograded_points: float = 0.0
    manual_points: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def load_wrong_answers(root: Path, lab: str) -> list[dict]:
    """The committed wrong answers of a lab (``solutions/<lab>/wrong_answers.yml``), validated."""
    import yaml

    path = root / "solutions" / lab / WRONG_ANSWERS_FILE
    if not path.exists():
        return []
    items = yaml.safe_load(path.read_text()) or []
    if not isinstance(items, list):
        raise LabCheckError(f"{path}: expected a list of wrong answers.")
    for i, item in enumerate(items):
        for key in ("cell", "misconception", "code", "loses"):
            if key not in item:
                raise LabCheckError(f"{path}: wrong answer #{i + 1} lacks '{key}'.")
    return items


_BLOCKS = (("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))


def _solution_lines(nb) -> list[str]:
    """Distinctive lines of solution code and hidden tests (to prove they do not leak): lines inside
    solution or hidden-test blocks that appear nowhere outside them."""
    inside, outside = [], set()
    for cell in nb.cells:
        src = cell.source
        for begin, end in _BLOCKS:
            pattern = re.escape(begin) + r"(.*?)" + re.escape(end)
            for block in re.findall(pattern, src, flags=re.S):
                inside += [ln.strip() for ln in block.splitlines()]
            src = re.sub(pattern, "", src, flags=re.S)
        outside.update(ln.strip() for ln in src.splitlines())
    return sorted({ln for ln in inside if len(ln) >= 24 and not ln.startswith("#") and ln not in outside})


def _searchable_text(name: str, blob: bytes) -> str:
    """A file's text as a reader sees it: a notebook's cell sources and outputs, other files as they are."""
    text = blob.decode("utf-8", errors="replace")
    if str(name).endswith(".ipynb"):
        try:
            nb = json.loads(text)
        except ValueError:
            return text
        parts = []
        for cell in nb.get("cells", []):
            src = cell.get("source", "")
            parts.append("".join(src) if isinstance(src, list) else src)
            for out in cell.get("outputs", []):
                parts.append(json.dumps(out))
        return "\n".join(parts)
    return text


def _tree_files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts
    }


def _score_wrong(args) -> dict:
    nb_file, timeout, cell, code = args
    return execute_and_score(Path(nb_file), timeout=timeout, replace={cell: code} if cell else None)


def _validate_release(args) -> dict:
    nb_file, timeout = args
    return validate(Path(nb_file), invert=True, timeout=timeout)


_BUILD_LOCK = threading.Lock()


@contextlib.contextmanager
def _executions(pool, jobs: int):
    """Yield ``run(fn, args) -> future``: on ``pool`` if given, else on a pool of ``jobs`` processes, or in
    this process (futures already done) when ``jobs`` is 1."""
    from concurrent.futures import Future

    if pool is not None:
        yield lambda fn, args: pool.submit(fn, args)
        return
    if jobs <= 1:
        def run_here(fn, args):
            fut = Future()
            fut.set_result(fn(args))
            return fut
        yield run_here
        return
    with _process_pool(jobs) as own:
        yield lambda fn, args: own.submit(fn, args)


def _process_pool(jobs: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def check_lab(root: Path, lab: str, *, timeout: int = 300, run_notebooks: bool = True, jobs: int = 2,
              pool=None) -> LabReport:
    """Verify one lab: release equals a fresh build, nothing leaks, solution full marks, release zero,
    every committed wrong answer loses exactly its cells' points.

    The notebooks run ``jobs`` at a time, or on ``pool`` (an executor shared with other labs)."""
    import nbformat

    report = LabReport(lab)
    src_nb_path = root / "solutions" / lab / f"{lab}.ipynb"
    rel_dir = root / "labs" / lab
    src_nb = nbformat.read(src_nb_path, as_version=4)
    cells = grade_cells(src_nb)
    ids = [c["grade_id"] for c in cells]
    all_ids = [c.metadata.nbgrader.get("grade_id") for c in src_nb.cells if "nbgrader" in c.metadata]
    dupes = sorted({i for i in all_ids if all_ids.count(i) > 1})
    if dupes:
        report.problems.append(f"grade_id(s) used more than once: {', '.join(map(str, dupes))}")
    report.points = sum(c["points"] for c in cells)
    report.manual_points = sum(c["points"] for c in cells if c["manual"])
    report.autograded_points = report.points - report.manual_points
    if any(c.get("outputs") or c.get("execution_count") for c in src_nb.cells if c.cell_type == "code"):
        report.problems.append(f"solutions/{lab}/{lab}.ipynb carries outputs; clear them before committing.")

    # 1. labs/ equals a fresh build.
    if not rel_dir.is_dir():
        report.problems.append(f"labs/{lab} is missing; run `medai course build`.")
        return report
    with tempfile.TemporaryDirectory(prefix="medai-check-") as tmp:
        with _BUILD_LOCK:   # nbgrader's converter is not known to be thread-safe
            fresh = generate_release(root, lab, Path(tmp))
        a, b = _tree_files(fresh), _tree_files(rel_dir)
        if a != b:
            differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            report.problems.append(
                f"labs/{lab} differs from a fresh build ({', '.join(differ)}); run `medai course build` "
                "and never edit labs/ by hand."
            )
    # 2. Nothing leaks into the release.
    secrets = _solution_lines(src_nb)
    for rel, blob in _tree_files(rel_dir).items():
        text = _searchable_text(rel, blob)
        for marker in FORBIDDEN_MARKERS:
            if marker in text:
                report.problems.append(f"labs/{lab}/{rel} contains '{marker}'.")
        leaked = [s for s in secrets if s in text]
        if leaked:
            report.problems.append(f"labs/{lab}/{rel} contains solution or hidden-test code: {leaked[0]!r}")
        if rel.endswith(".ipynb"):
            nb = json.loads(blob)
            if any(c.get("outputs") or c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"):
                report.problems.append(f"labs/{lab}/{rel} carries outputs.")
        if rel in INSTRUCTOR_ONLY:
            report.problems.append(f"labs/{lab}/{rel} is instructor-only and must not be released.")
    if not run_notebooks:
        return report

    # 3. Solution full marks (every test, hidden ones included), release scores zero under nbgrader's
    # validator, and 4. every committed wrong answer loses exactly its cells' points. All executions go to
    # one pool (shared across labs by check_labs), so no core waits while another runs a solution alone.
    with tempfile.TemporaryDirectory(prefix="medai-validate-") as tmp, _executions(pool, jobs) as run:
        work = Path(tmp) / "solution"
        _copy_source(root / "solutions" / lab, work)
        released = Path(tmp) / "release"
        shutil.copytree(rel_dir, released)
        nb_file = work / f"{lab}.ipynb"
        wrongs = load_wrong_answers(root, lab)
        solved = run(_score_wrong, (nb_file, timeout, None, None))
        release = run(_validate_release, (released / f"{lab}.ipynb", timeout))
        wrong_runs = [run(_score_wrong, (nb_file, timeout, w["cell"], w["code"])) for w in wrongs]
        solved = solved.result()
        short = {g: s for g, s in solved["scores"].items() if s[0] != s[1]}
        if short:
            first = next((solved["errors"][g] for g in sorted(short) if solved["errors"].get(g)), "")[-300:]
            report.problems.append(f"the solution loses points in {sorted(short)}: {first}")
        result = release.result()
        if result.get("passed"):
            report.problems.append(
                f"the unmodified release passes {len(result['passed'])} test cell(s); every test must fail "
                "before the learner answers."
            )
        for wrong, res in zip(wrongs, (f.result() for f in wrong_runs)):
            lost = {g for g, (s, m) in res["scores"].items() if s < m}
            expected = set(wrong["loses"])
            name = wrong["misconception"]
            if lost != expected:
                report.problems.append(
                    f"wrong answer '{name}' lost points in {sorted(lost)}, expected exactly {sorted(expected)}"
                )
            pattern = wrong.get("message")
            if pattern:
                text = "\n".join(res["errors"].get(g, "") for g in expected)
                if not re.search(pattern, text, flags=re.I):
                    report.problems.append(
                        f"wrong answer '{name}': no failure message matching {pattern!r} (got: {text[-200:]!r})"
                    )
            if lost == expected:
                report.notes.append(f"wrong answer '{name}' loses {sorted(lost)}")
    return report


def check_labs(root: Path | None = None, labs: list[str] | None = None, *, timeout: int = 300,
               progress=None, jobs: int = 2) -> list[LabReport]:
    """Check every lab (or those named); see :func:`check_lab`."""
    root = root or repo_root()
    names = [resolve_lab(root, n, kind="solutions") for n in labs] if labs else list_labs(root)
    if not names:
        raise MedaiInputError(f"no labs in {root / 'solutions'}.")
    stray = sorted(set(list_labs(root, kind="labs")) - set(list_labs(root)))
    reports = []
    # One pool for every lab: each lab's thread submits its notebooks and waits for them, so the cores stay
    # busy across labs; reports still come in the labs' order.
    from concurrent.futures import ThreadPoolExecutor

    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(_process_pool(jobs)) if jobs > 1 else None
        threads = stack.enter_context(ThreadPoolExecutor(max_workers=len(names) if pool else 1))
        pending = [threads.submit(check_lab, root, lab, timeout=timeout, jobs=jobs, pool=pool) for lab in names]
        for future in pending:
            rep = future.result()
            if stray and not labs:
                rep.problems.append(f"labs/ holds labs with no solution: {', '.join(stray)}")
                stray = []
            reports.append(rep)
            if progress:
                progress(rep)
    return reports


# --------------------------------------------------------------------------------------------- release
LEARNER_TREE = ("course", "labs", "medai_lib", "scripts", "constraints", "pyproject.toml", "environment.yml",
                "Makefile", "LICENSE", "nbgrader_config.py")


def release_tree(dest: str | os.PathLike, root: Path | None = None) -> Path:
    """Write the learner tree to ``dest``: course/, labs/, the library and a learner README; never
    solutions/, tests or hidden tests. ``dest`` must be empty or absent."""
    root = root or repo_root()
    dest = Path(dest).resolve()
    if dest.exists() and any(dest.iterdir()):
        raise MedaiInputError(f"release folder '{dest}' is not empty; give a new or empty folder.")
    if dest == root or root in dest.parents and dest.parts[len(root.parts)] not in {"build", "release"}:
        raise MedaiInputError(f"release folder '{dest}' is inside the course repository; choose a folder outside it.")
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc", "*.egg-info", *INSTRUCTOR_ONLY)
    for name in LEARNER_TREE:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)
    learner_readme = root / "docs" / "LEARNER_README.md"
    if learner_readme.exists():
        shutil.copy2(learner_readme, dest / "README.md")
    # Prove it: nothing from solutions/ may be in the tree.
    import nbformat

    secrets = []
    for lab in list_labs(root):
        secrets += _solution_lines(nbformat.read(root / "solutions" / lab / f"{lab}.ipynb", as_version=4))
    # Course material only: the library's own source legitimately shares generic lines with tests.
    for path in dest.rglob("*"):
        if path.is_file() and path.suffix in {".ipynb", ".md", ".yml", ".txt", ".json"}:
            text = _searchable_text(path.name, path.read_bytes())
            hit = [m for m in FORBIDDEN_MARKERS if m in text]
            if path.relative_to(dest).parts[0] == "labs":
                # Lecture notebooks may teach with the same lines a solution uses; labs must not hold them.
                hit += [s for s in secrets if s in text]
            if hit:
                shutil.rmtree(dest)
                raise MedaiError(f"release aborted: {path.relative_to(dest)} holds solution text ({hit[0]!r}).")
    (dest / "work").mkdir(exist_ok=True)
    return dest


# --------------------------------------------------------------------------------------------- learners
def start_lab(name: str, *, root: Path | None = None, work_dir: str | os.PathLike | None = None) -> tuple[Path, list[str], list[str]]:
    """Copy a released lab into ``work/<lab>/``; never overwrite a file the learner already has.

    Returns (folder, copied files, kept files)."""
    root = root or repo_root()
    lab = resolve_lab(root, name, kind="labs")
    dest = Path(work_dir) if work_dir else root / "work"
    target = dest / lab
    target.mkdir(parents=True, exist_ok=True)
    copied, kept = [], []
    src = root / "labs" / lab
    for path in sorted(src.rglob("*")):
        if not path.is_file() or ".ipynb_checkpoints" in path.parts:
            continue
        rel = path.relative_to(src)
        out = target / rel
        if out.exists():
            kept.append(str(rel))
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out)
        copied.append(str(rel))
    return target, copied, kept


def _student_id(student: str | None) -> str:
    raw = student or os.environ.get("MEDAI_STUDENT") or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    clean = re.sub(r"[^A-Za-z0-9.-]", "-", raw).strip("-")
    if not clean:
        raise MedaiInputError(f"student id {raw!r} has no letters or digits; pass --student YOUR_ID.")
    return clean


def _learner_notebooks(folder: Path, lab: str, name: str) -> list[Path]:
    """The learner's notebooks of a lab, each checked to be a readable notebook."""
    import nbformat

    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks:
        raise MedaiInputError(
            f"nothing to submit for '{lab}': {folder} holds no notebook; start it with `medai lab start {name}`."
        )
    for nb_path in notebooks:
        try:
            nbformat.read(nb_path, as_version=4)
        except Exception as exc:
            raise MedaiInputError(
                f"{nb_path} is not a valid notebook ({exc}); restore it from a checkpoint "
                "(File > Revert Notebook to Checkpoint) before submitting."
            ) from exc
    return notebooks


def visible_test_failures(name: str, *, root: Path | None = None, work_dir: str | os.PathLike | None = None,
                          timeout: int = 600) -> list[tuple[str, str]]:
    """Run a learner's lab notebooks top to bottom in a fresh kernel (on a copy: their files are untouched)
    and return ``(test, message in plain words)`` for each visible test that does not pass."""
    import tempfile

    from medai_lib.course.grading_report import plain_message

    root = root or repo_root()
    lab = resolve_lab(root, name, kind="labs")
    folder = (Path(work_dir) if work_dir else root / "work") / lab
    notebooks = _learner_notebooks(folder, lab, name)
    failures = []
    with tempfile.TemporaryDirectory(prefix="medai-check-") as tmp:
        copy = Path(tmp) / lab
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        for nb_path in notebooks:
            try:
                result = execute_and_score(copy / nb_path.name, timeout=timeout)
            except Exception as exc:  # a kernel that died or hung: say so, the learner decides
                failures.append((nb_path.name, f"the notebook did not run to the end ({type(exc).__name__})"))
                continue
            for gid, (score, max_score) in result["scores"].items():
                if score < max_score:
                    message = result["errors"].get(gid, "").strip().splitlines()
                    failures.append((gid, plain_message(message[-1] if message else "") or "not passed"))
    return failures


def submit_lab(name: str, *, root: Path | None = None, work_dir: str | os.PathLike | None = None,
               student: str | None = None, when: datetime | None = None) -> list[Path]:
    """Package the learner's notebooks of a lab in the naming nbgrader's ``zip_collect`` reads:
    ``work/submissions/<lab>_<student>_attempt_<YYYYMMDDTHHMMSS>_<notebook>.ipynb``."""
    root = root or repo_root()
    lab = resolve_lab(root, name, kind="labs")
    work = Path(work_dir) if work_dir else root / "work"
    folder = work / lab
    notebooks = _learner_notebooks(folder, lab, name)
    sid = _student_id(student)
    stamp = (when or datetime.now()).strftime("%Y%m%dT%H%M%S")
    out_dir = work / "submissions"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for nb_path in notebooks:
        target = out_dir / f"{lab}_{sid}_attempt_{stamp}_{nb_path.name}"
        shutil.copy2(nb_path, target)
        written.append(target)
    return written
