"""Grade a class's lab submissions safely over nbgrader: each submission runs in its own kernel and folder
(limits, no network, instructor files hidden), tampered test cells are restored, monkeypatching is detected,
and results are merged into the course gradebook with feedback, an LMS grades CSV and a class report.

Entry points: :func:`grade_lab` (and the ``medai grade`` command), :func:`collect_submissions`,
:func:`restore_cells`, :func:`export_manual`, :func:`import_manual`.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medai_lib.course.kernel import REPRODUCIBLE_ENV
from medai_lib.course.labs import SUBMISSION_RE, repo_root, resolve_lab
from medai_lib.errors import MedaiInputError

log = logging.getLogger(__name__)

KERNEL_NAME = "medai-grader"
GRADER_VERSION = "2"
MAX_ZIP_BYTES = 1 << 30
MAX_FILE_BYTES = 100 << 20
#: Names a learner's code has no reason to touch; their use is reported for review (not penalised alone).
SUSPICIOUS_NAMES = (
    "get_ipython", "input_transformers", "ast_transformers", "set_custom_exc", "settrace", "setprofile",
    "excepthook", "__code__", "__builtins__", "builtins", "sys.modules", "setattr", "ctypes", "importlib",
    "grading_guard", "medai_lib.course", "__import__", "exec(", "eval(", "compile(", "globals()", "gc.",
    "gradebook", "solutions", "os._exit", "signal.", "CheckFailed", "expect_close", "expect_equal",
    "expect_sequence",
)


# --------------------------------------------------------------------------------------------- data types
@dataclass(frozen=True)
class Submission:
    """One learner's latest attempt: ``files`` maps each lab notebook name to the submitted file."""

    student_id: str
    timestamp: str
    files: dict
    superseded: tuple = ()
    labels: tuple = ()


@dataclass(frozen=True)
class GradingSummary:
    """What :func:`grade_lab` wrote and found.

    ``grades`` has one row per student (roster and submitters), ``questions`` one row per student and test
    cell, ``attention`` one row per file or student needing a look, with its reason.
    """

    lab: str
    out_dir: Path
    grades: Any
    questions: Any
    attention: Any
    grades_csv: Path
    report_html: Path
    manual_csv: Path
    gradebook_url: str
    seconds: float
    results: tuple = field(default_factory=tuple, repr=False)


# --------------------------------------------------------------------------------------------- collect
def _check_notebook_file(path: Path) -> str | None:
    """None if ``path`` holds a readable notebook, else the reason."""
    import nbformat

    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return f"file larger than {MAX_FILE_BYTES >> 20} MiB"
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            return "not a notebook (no cells)"
    except Exception as exc:  # invalid JSON, wrong encoding, not a notebook
        return f"invalid notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
    return None


def _extract_zip(path: Path, dest: Path) -> list[tuple[str, Path]]:
    """Extract a zip flat (base names only: no path escapes the folder); returns (name in zip, file)."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise MedaiInputError(f"submissions zip '{path}' is not a valid zip file ({exc}); export it again.") from exc
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise MedaiInputError(f"submissions zip '{path}' expands to over 1 GiB; split it or unzip it yourself.")
        out = []
        dest.mkdir(parents=True, exist_ok=True)
        for n, info in enumerate(infos):
            base = Path(info.filename.replace("\\", "/")).name
            target = dest / f"{n:05d}" / base
            target.parent.mkdir()
            with archive.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append((info.filename, target))
    return out


def collect_submissions(source: str | os.PathLike, *, notebooks: list[str], staging: Path | None = None
                        ) -> tuple[list[Submission], list[dict]]:
    """Read a folder or zip of submissions named ``<lab>_<student>_attempt_<YYYYMMDDTHHMMSS>_<notebook>``.

    Parameters
    ----------
    source : folder or .zip file, as an LMS exports it (``nbgrader zip_collect`` naming)
    notebooks : list of str, the lab's notebook file names (e.g. ``["lab00_clinical_values.ipynb"]``)
    staging : folder to extract a zip into (default: a new temporary folder)

    Returns
    -------
    submissions : list of Submission, one per student (latest attempt per notebook), sorted by student
    attention : list of dict with keys ``file``, ``student_id``, ``reason``, one per input file that was not
        graded (bad name, invalid notebook, superseded attempt) and per student with a missing notebook

    Examples
    --------
    >>> subs, attention = collect_submissions("exports/lab00.zip", notebooks=["lab00_clinical_values.ipynb"])  # doctest: +SKIP
    """
    source = Path(source)
    if not source.exists():
        raise MedaiInputError(f"submissions '{source}' do not exist; give a folder or a .zip of submissions.")
    if not notebooks:
        raise MedaiInputError("notebooks is empty; give the lab's notebook file names.")
    if source.is_file():
        if source.suffix.lower() != ".zip":
            raise MedaiInputError(f"submissions '{source}' is a file but not a .zip; give a folder or a zip.")
        staging = staging or Path(tempfile.mkdtemp(prefix="medai-collect-"))
        entries = _extract_zip(source, staging)
    else:
        entries = [(str(p.relative_to(source)), p) for p in sorted(source.rglob("*"))
                   if p.is_file() and ".ipynb_checkpoints" not in p.parts]
    attention: list[dict] = []
    found: dict[str, dict[str, list[tuple[str, Path, str]]]] = {}
    expected = ", ".join(notebooks)
    for label, path in entries:
        name = path.name
        match = SUBMISSION_RE.match(name)
        if not match:
            attention.append({"file": label, "student_id": "", "reason": (
                "file name not recognised: expected <lab>_<student>_attempt_<YYYYMMDDTHHMMSS>_<notebook> "
                f"with notebook {expected}")})
            continue
        sid, stamp, file_id = match["student_id"], match["timestamp"], match["file_id"]
        if file_id not in notebooks:
            attention.append({"file": label, "student_id": sid, "reason": (
                f"wrong notebook name '{file_id}': this lab's notebook is {expected}")})
            continue
        problem = _check_notebook_file(path)
        if problem:
            attention.append({"file": label, "student_id": sid, "reason": problem})
            continue
        found.setdefault(sid, {}).setdefault(file_id, []).append((stamp, path, label))
    submissions = []
    for sid in sorted(found):
        files, superseded, stamps, labels = {}, [], [], []
        for nb_name, attempts in found[sid].items():
            attempts.sort(key=lambda a: (a[0], a[2]))
            stamp, path, label = attempts[-1]
            files[nb_name] = str(path)
            labels.append(label)
            stamps.append(stamp)
            for old in attempts[:-1]:
                superseded.append(old[2])
                attention.append({"file": old[2], "student_id": sid,
                                  "reason": f"superseded by the later attempt {stamp} (not graded)"})
        for nb_name in notebooks:
            if nb_name not in files:
                attention.append({"file": "", "student_id": sid,
                                  "reason": f"missing notebook {nb_name}: that part scores 0"})
        submissions.append(Submission(sid, max(stamps), files, tuple(superseded), tuple(sorted(labels))))
    return submissions, attention


def read_roster(path: str | os.PathLike) -> list[dict]:
    """A roster CSV with a ``student_id`` (or ``id``) column and optional first_name, last_name, email."""
    path = Path(path)
    if not path.exists():
        raise MedaiInputError(f"roster '{path}' does not exist; give a CSV with a student_id column.")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for i, row in enumerate(rows, start=2):
        sid = (row.get("student_id") or row.get("id") or "").strip()
        if not sid:
            raise MedaiInputError(f"roster '{path}' line {i} has no student_id; every row needs one.")
        out.append({"student_id": sid, "first_name": (row.get("first_name") or "").strip(),
                    "last_name": (row.get("last_name") or "").strip(), "email": (row.get("email") or "").strip()})
    return out


# --------------------------------------------------------------------------------------------- master
def _cell_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_test(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


_META_KEYS = ("grade", "grade_id", "locked", "points", "solution", "task")


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return {k: meta.get(k) for k in _META_KEYS}


def _is_answer(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def build_master(root: Path, lab: str) -> dict:
    """The grading master of each lab notebook: the solution with its answers replaced by the released stubs
    (nbgrader's ClearSolutions) and its hidden tests kept, plus each manually graded cell's rubric.

    Returns ``{notebook name: {"nb": notebook JSON, "rubrics": {grade_id: text}, "release": {grade_id: source},
    "nb_sources": {grade_id: master source}}}``.
    """
    import nbformat
    from nbgrader.preprocessors import ClearSolutions

    src = root / "solutions" / lab
    rel = root / "labs" / lab
    masters = {}
    for nb_path in sorted(src.glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        rubrics = {}
        for cell in nb.cells:
            if _is_answer(cell) and cell.metadata.nbgrader.get("grade"):
                text = cell.source.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "").strip()
                rubrics[_cell_id(cell)] = text
        clear = ClearSolutions(code_stub={"python": "# YOUR CODE HERE\nraise NotImplementedError()"},
                               text_stub="YOUR ANSWER HERE")
        nb, _ = clear.preprocess(nb, {"language": "python"})
        release = {}
        rel_nb = rel / nb_path.name
        if rel_nb.exists():
            for cell in nbformat.read(rel_nb, as_version=4).cells:
                if _cell_id(cell):
                    release[_cell_id(cell)] = cell.source
        sources = {_cell_id(c): c.source for c in nb.cells if _cell_id(c)}
        masters[nb_path.name] = {"nb": nbformat.writes(nb), "rubrics": rubrics, "release": release,
                                 "nb_sources": sources}
    if not masters:
        raise MedaiInputError(f"solutions/{lab}/ holds no notebook; grading needs the lab's source.")
    return masters


# --------------------------------------------------------------------------------------------- restore
def restore_cells(student_nb, master_nb) -> tuple[Any, list[str]]:
    """Rebuild a submission on the master's structure, as nbgrader's OverwriteCells with
    ``add_missing_cells`` does, and more strictly.

    Test and locked cells come from the master (edits, deletions, type or metadata changes undone); answer
    cells keep the learner's text with the master's type and metadata; duplicated grade ids keep the first
    copy as the graded one; the learner's extra cells stay after the graded cell they followed.

    Returns the rebuilt notebook and a list of what was restored (empty if nothing).
    """
    import copy

    import nbformat

    notes: list[str] = []
    master_ids = [_cell_id(c) for c in master_nb.cells]
    known = {gid for gid in master_ids if gid}
    seen: dict[str, Any] = {}
    anchored: dict[str | None, list] = {None: []}
    anchor = None
    for cell in student_nb.cells:
        gid = _cell_id(cell)
        if gid in known and gid not in seen:
            seen[gid] = cell
            anchor = gid
            continue
        extra = copy.deepcopy(cell)
        if "nbgrader" in extra.get("metadata", {}):
            del extra.metadata["nbgrader"]
            notes.append(f"cell '{gid}' " + ("is a duplicate: graded once" if gid in known
                                               else "has unknown nbgrader metadata: graded as a plain cell"))
        if extra.get("cell_type") == "code" and _is_test(cell):
            extra.source = "# (a copy of a test cell, not graded)\n" + "\n".join(
                "# " + line for line in extra.source.splitlines())
        anchored.setdefault(anchor, []).append(extra)
    cells = list(anchored[None])
    for mcell in master_nb.cells:
        gid = _cell_id(mcell)
        if not gid:
            continue  # plain cells are the learner's own (kept above, in their place)
        scell = seen.get(gid)
        restored = copy.deepcopy(mcell)
        if scell is None:
            notes.append(f"cell '{gid}' was deleted: restored")
        elif _is_answer(mcell):
            restored.source = scell.get("source", "")
            if scell.get("cell_type") != mcell.cell_type:
                notes.append(f"cell '{gid}' changed type: restored to {mcell.cell_type}")
            if _meta(scell) != _meta(mcell):
                notes.append(f"cell '{gid}' had altered nbgrader metadata: restored")
        else:
            if scell.get("cell_type") != mcell.cell_type:
                notes.append(f"cell '{gid}' changed type: restored")
            elif _meta(scell) != _meta(mcell):
                notes.append(f"cell '{gid}' had altered nbgrader metadata: restored")
            elif _is_test(mcell) and not _same_visible(scell.get("source", ""), mcell.source):
                notes.append(f"test cell '{gid}' was edited: restored")
        cells.append(restored)
        cells.extend(anchored.get(gid, []))
    out = nbformat.v4.new_notebook()
    out.metadata = copy.deepcopy(master_nb.metadata)
    out.cells = cells
    for i, cell in enumerate(out.cells):
        cell["id"] = f"cell-{i}"
    return out, notes


def _same_visible(student_src: str, master_src: str) -> bool:
    """Whether a learner's copy of a test cell equals the released one (the master minus its hidden part)."""
    import re

    visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", master_src, flags=re.S)
    return student_src.strip() == visible.strip()


# --------------------------------------------------------------------------------------------- isolation
#: Caps on what a graded notebook may carry back (feedback must not smuggle large files out).
MAX_CELL_OUTPUT_BYTES = 1 << 20
MAX_NOTEBOOK_OUTPUT_BYTES = 8 << 20
_KERNEL_ENV = {**REPRODUCIBLE_ENV, "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
               "no_proxy": "*", "MEDAI_GRADING": "1", "LANG": "C.UTF-8", "TMPDIR": "/tmp", "USER": "learner",
               "LOGNAME": "learner"}


def _kernel_argv(task: dict, kdir: Path, rt: Path, cgroup: Path | None = None) -> tuple[list[str], dict]:
    """The kernel's command line and environment: sealed by bubblewrap unless the instructor chose not to."""
    from medai_lib.course import grading_sandbox

    env = dict(_KERNEL_ENV)
    inner = [sys.executable, "-m", "medai_lib.course.grading_kernel", "--memory-mb", str(task["memory_mb"]),
             "--cpu-s", str(task["timeout"] + 30), "--file-mb", str(grading_sandbox.FILES_MB)]
    if not task.get("sandbox", True):
        return inner + ["--", "-f", "{connection_file}"], env
    data_dirs = list(task.get("data_dirs", []))
    # JPY_PARENT_PID=1: no parent poller (in its PID namespace the kernel's parent is always process 1).
    env.update(JPY_PARENT_PID="1", HOME="/tmp/home", IPYTHONDIR="/tmp/ipython", MPLCONFIGDIR=str(rt / "mpl"),
               MEDAI_DATA="/tmp/medai-data", MEDAI_DATA_READONLY=os.pathsep.join(data_dirs),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]))
    spec = grading_sandbox.SandboxSpec(kernel_dir=kdir, runtime_dir=rt, data_dirs=tuple(data_dirs))
    fifo = rt / "audit"
    allowed = grading_sandbox.allowed_roots(kdir, rt, data_dirs)
    argv = [*grading_sandbox.enter_cgroup_argv(cgroup), *grading_sandbox.bwrap_argv(spec, env), *inner,
            "--nproc", str(grading_sandbox.MAX_PROCESSES), "--audit", str(fifo),
            *(x for a in allowed for x in ("--allow", a)), "--", "-f", "{connection_file}"]
    return argv, {}


def _write_kernelspec(folder: Path, argv: list[str], env: dict) -> None:
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": argv, "display_name": "MedAI grader", "language": "python", "env": env}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


def _read_audit(fd: int | None) -> list[str]:
    """What the submission tried to reach outside its sandbox, as reported by the kernel's audit hook."""
    if fd is None:
        return []
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    os.close(fd)
    found = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            event = json.loads(line)
            found.append(f"sandbox: {str(event['detail'])[:200]}")
        except (ValueError, KeyError, TypeError):
            continue
    return list(dict.fromkeys(found))


def _cap_outputs(nb) -> list[str]:
    """Cut outputs beyond the per-cell and per-notebook caps; returns the cells that were cut."""
    import nbformat

    cut, total = [], 0
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.get("outputs"):
            continue
        size = len(json.dumps(cell.outputs))
        if size > MAX_CELL_OUTPUT_BYTES or total + size > MAX_NOTEBOOK_OUTPUT_BYTES:
            cut.append(_cell_id(cell) or f"cell {cell.get('execution_count')}")
            note = (f"[output removed by the grader: {size:,} bytes, over the limit of "
                    f"{MAX_CELL_OUTPUT_BYTES >> 20} MiB a cell and {MAX_NOTEBOOK_OUTPUT_BYTES >> 20} MiB a notebook]")
            errors = [o for o in cell.outputs if o.get("output_type") == "error"][:1]
            for err in errors:
                err["traceback"] = err.get("traceback", [])[-3:]
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=note), *errors]
            size = len(json.dumps(cell.outputs))
        total += size
    return cut


# --------------------------------------------------------------------------------------------- static scan
def scan_code(source: str) -> list[str]:
    """Suspicious names in a learner's code cell (for review; see ``SUSPICIOUS_NAMES``)."""
    hits = [name for name in SUSPICIOUS_NAMES if name in source]
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return hits
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and \
                    target.value.id in {"math", "np", "numpy", "pd", "pandas", "builtins", "sys", "os", "operator"}:
                hits.append(f"assigns {target.value.id}.{target.attr}")
    return sorted(set(hits))


# --------------------------------------------------------------------------------------------- worker
def _guard_cell(source: str, nonce: str):
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["medai_guard"] = nonce
    return cell


def _output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
    return "".join(parts)


def _error_of(cell) -> dict | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return {"ename": out.get("ename", ""), "evalue": out.get("evalue", "")}
    return None


def _learner_runs(student, tests: dict) -> dict:
    """{test grade id: "passed" or the failure message} from the outputs the learner's own run left in the
    submitted notebook (tests they did not run are absent)."""
    runs = {}
    for cell in student.cells:
        gid = _cell_id(cell)
        if gid not in tests or gid in runs or cell.get("cell_type") != "code" or not cell.get("execution_count"):
            continue
        err = _error_of(cell)
        runs[gid] = f"{err['ename']}: {err['evalue']}".strip()[:2000] if err else "passed"
    return runs


def _kill_kernel(km) -> None:
    """SIGKILL the kernel's process group. The pid comes from the kernel manager (the grader's memory),
    never from a file the learner's code could rewrite."""
    provisioner = getattr(km, "provisioner", None)
    pid = getattr(provisioner, "pid", None) if provisioner is not None else None
    if not pid:
        return
    try:
        if os.getpgid(pid) == pid:  # jupyter_client starts kernels in their own session
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def grade_submission(task: dict) -> dict:
    """Grade one submission in a fresh kernel (worker entry point; ``task`` as built by :func:`grade_lab`).

    Returns a JSON-serialisable dict: per test cell score, max and message; status and reasons."""
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import DeadKernelError
    from nbgrader.preprocessors import ClearOutput, Execute

    t_start = time.perf_counter()
    result: dict[str, Any] = {"student_id": task["student_id"], "timestamp": task["timestamp"], "key": task["key"],
                              "labels": task.get("labels", []),
                              "notebooks": {}, "reasons": [], "notes": [], "review": [], "tampering": [],
                              "sandbox": []}
    work = Path(tempfile.mkdtemp(prefix="s-", dir=task["run_dir"]))
    if not task.get("sandbox", True):
        result["reasons"].append("graded without the sandbox (--no-sandbox): the submission could read this "
                                 "machine's files")
    exec_seconds = 0.0
    opened: dict[str, Any] = {}  # the audit FIFO and pids cgroup of the kernel being run, until it is done
    saved_env = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "JUPYTER_RUNTIME_DIR")}
    try:
        for nb_name, master_info in task["masters"].items():
            master = nbformat.reads(master_info["nb"], as_version=4)
            entry = {"tests": {}, "manual": {}, "executed": None}
            result["notebooks"][nb_name] = entry
            tests = [c for c in master.cells if _is_test(c)]
            for cell in tests:
                entry["tests"][_cell_id(cell)] = {"score": 0.0, "max": float(cell.metadata.nbgrader["points"]),
                                                  "message": "not submitted", "hidden": "BEGIN HIDDEN" in cell.source}
            for cell in master.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade") and meta.get("solution"):
                    entry["manual"][_cell_id(cell)] = {"max": float(meta.get("points", 0)), "answer": ""}
            path = task["files"].get(nb_name)
            if path is None:
                continue
            student = nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)
            learner_runs = _learner_runs(student, entry["tests"])
            nb, notes = restore_cells(student, master)
            result["notes"] += notes
            for cell in nb.cells:
                if cell.cell_type == "code" and not _is_test(cell) and not cell.metadata.get("nbgrader", {}).get("locked"):
                    for hit in scan_code(cell.source):
                        result["review"].append(f"{_cell_id(cell) or 'extra cell'}: {hit}")
            for cell in nb.cells:
                gid = _cell_id(cell)
                if gid in entry["manual"]:
                    entry["manual"][gid]["answer"] = cell.source
            nb, _ = ClearOutput().preprocess(nb, {})
            # Guards: a snapshot before any learner code, a check before every test cell and at the end.
            cells, nonces = [_guard_cell("import medai_lib.course.grading_guard as _medai_guard\n"
                                         "_medai_guard.snapshot()", "snapshot")], []
            for cell in nb.cells:
                if _is_test(cell):
                    nonce = secrets.token_hex(8)
                    nonces.append((nonce, _cell_id(cell)))
                    cells.append(_guard_cell(f"_medai_guard.check({nonce!r})", nonce))
                cells.append(cell)
            nonce = secrets.token_hex(8)
            nonces.append((nonce, "end"))
            cells.append(_guard_cell(f"_medai_guard.check({nonce!r})", nonce))
            nb.cells = cells
            for i, cell in enumerate(nb.cells):
                cell["id"] = f"cell-{i}"
            nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "MedAI grader", "language": "python"}

            kdir = work / "lab"
            if kdir.exists():
                shutil.rmtree(kdir)
            shutil.copytree(task["release_dir"], kdir,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
            shutil.copy2(path, kdir / nb_name)
            jdir = work / "jupyter"
            rt = work / "rt"
            if rt.exists():
                shutil.rmtree(rt)
            rt.mkdir()
            if task.get("mpl_cache") and Path(task["mpl_cache"]).is_dir():
                shutil.copytree(task["mpl_cache"], rt / "mpl")
            audit_fd = cgroup = None
            if task.get("sandbox", True):
                from medai_lib.course.grading_sandbox import process_cap_cgroup

                os.mkfifo(rt / "audit", 0o600)
                # Read-write and non-blocking: the kernel can always open it, and never blocks on it.
                audit_fd = os.open(rt / "audit", os.O_RDWR | os.O_NONBLOCK)
                opened["fd"] = audit_fd
                cgroup = process_cap_cgroup(f"medai-grading-{work.name}")
                opened["cgroup"] = cgroup
            argv, kenv = _kernel_argv(task, kdir, rt, cgroup)
            _write_kernelspec(jdir, argv, kenv)
            os.environ["JUPYTER_PATH"] = str(jdir)
            os.environ["JUPYTER_RUNTIME_DIR"] = str(rt)
            km = AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=str(rt / "k"),
                                    connection_file=str(rt / "kernel.json"))
            executor = Execute(timeout=task["cell_timeout"], interrupt_on_timeout=True, allow_errors=True,
                               kernel_name=KERNEL_NAME, startup_timeout=60)
            executor.extra_arguments = ["--HistoryManager.hist_file=:memory:"]
            running: dict[str, Any] = {}

            def _on_cell_execute(cell, cell_index, **_):  # the grader's record of the cell being run
                running["cell"] = cell

            executor.on_cell_execute = _on_cell_execute
            killed = threading.Event()

            def _on_wall_clock():
                killed.set()
                _kill_kernel(km)

            timer = threading.Timer(task["timeout"], _on_wall_clock)
            timer.daemon = True
            died = None
            t_exec = time.perf_counter()
            timer.start()
            try:
                executor.preprocess(nb, {"metadata": {"path": str(kdir)}}, km=km)
            except DeadKernelError:
                died = "the kernel died (crash, os._exit or memory exhaustion)"
            except Exception as exc:  # unresponsive kernel, startup failure: reported, never dropped
                first = (str(exc).strip().splitlines() or [""])[0][:120]
                if "kernel_info" in str(exc) or "startup" in str(exc).lower():
                    died = f"the kernel could not start ({type(exc).__name__}: {first})"
                else:
                    died = (f"execution stopped: the kernel did not respond after the per-cell limit of "
                            f"{task['cell_timeout']} s (an endless loop that ignores interrupts?) "
                            f"[{type(exc).__name__}]")
            finally:
                timer.cancel()
                _kill_kernel(km)
                if cgroup is not None:
                    from medai_lib.course.grading_sandbox import remove_cgroup

                    if not remove_cgroup(cgroup):
                        result["reasons"].append(f"processes of this submission outlived grading in {cgroup}")
            exec_seconds += time.perf_counter() - t_exec
            result["sandbox"] = list(dict.fromkeys(result.get("sandbox", []) + _read_audit(audit_fd)))
            opened.clear()
            dying = None
            if died:
                # The cell that was running when the kernel died, as the executor recorded it when it sent it
                # (the kernel may die before it announces the cell's execution count).
                dying = running.get("cell")
                if dying is not None and dying.metadata.get("medai_guard"):
                    dying = None  # an integrity check: the learner's cell before it did the damage
                if dying is None:
                    dying = next((c for c in reversed(nb.cells) if c.get("execution_count") or c.get("outputs")),
                                 None)
                if dying is not None:
                    dying.metadata["medai_died"] = True
                where = _cell_id(dying) if dying is not None else None
                if killed.is_set():
                    result["reasons"].append(f"wall-clock limit of {task['timeout']} s exceeded"
                                             + (f" in cell '{where}'" if where else ""))
                else:
                    result["reasons"].append(died + (f" in cell '{where}'" if where else ""))
            # Guard reports.
            by_nonce = {c.metadata.get("medai_guard"): c for c in nb.cells if c.metadata.get("medai_guard")}
            for nonce, before in nonces:
                gcell = by_nonce.get(nonce)
                if gcell is None or not (gcell.get("execution_count") or gcell.get("outputs")):
                    continue  # never reached (kernel died before it)
                if (_error_of(gcell) or {}).get("ename") == "CellTimeoutError":
                    continue  # the kernel was still busy with an earlier cell: reported as a timeout
                line = next((ln for ln in _output_text(gcell).splitlines() if ln.startswith("MEDAI-GUARD " + nonce)),
                            None)
                if line is None:
                    result["tampering"].append(f"the integrity check before '{before}' did not report "
                                               "(cell execution was altered)")
                    continue
                for finding in json.loads(line.split(" ", 2)[2]):
                    if not any(t.startswith(finding + " (") for t in result["tampering"]):
                        result["tampering"].append(f"{finding} (found before '{before}')")
            nb.cells = [c for c in nb.cells if not c.metadata.get("medai_guard")]
            for cell in nb.cells:
                if not _is_test(cell):
                    continue
                gid = _cell_id(cell)
                test = entry["tests"][gid]
                err = _error_of(cell)
                ran = bool(cell.get("execution_count")) or bool(cell.get("outputs"))
                if cell.metadata.pop("medai_died", False):
                    test["score"], test["message"] = 0.0, "the kernel died while running this test"
                elif err:
                    test["score"], test["message"] = 0.0, f"{err['ename']}: {err['evalue']}".strip()[:2000]
                    if err["ename"] == "NotImplementedError" and not err["evalue"]:
                        test["message"] = "not answered yet: the answer cell still raises NotImplementedError"
                    if err["ename"] in ("CellTimeoutError", "KeyboardInterrupt") or "Timeout" in err["ename"]:
                        result["reasons"].append(f"test '{gid}' stopped at the per-cell limit of "
                                                 f"{task['cell_timeout']} s")
                        test["message"] = f"stopped after {task['cell_timeout']} s (an endless loop or very slow code)"
                    if err["ename"] == "MemoryError":
                        result["reasons"].append(f"memory limit of {task['memory_mb']} MB reached in '{gid}'")
                elif not ran:
                    test["score"], test["message"] = 0.0, "not run: the kernel stopped before this test"
                else:
                    test["score"], test["message"] = test["max"], ""
            for cell in nb.cells:
                err = _error_of(cell)
                if err and not _is_test(cell) and (err["ename"] in ("CellTimeoutError", "KeyboardInterrupt")
                                                   or "Timeout" in err["ename"]):
                    result["reasons"].append(f"cell '{_cell_id(cell) or 'a learner cell'}' stopped at the per-cell "
                                             f"limit of {task['cell_timeout']} s (an endless loop or very slow code)")
                if err and err["ename"] == "MemoryError" and not _is_test(cell):
                    result["reasons"].append(f"memory limit of {task['memory_mb']} MB reached in "
                                             f"'{_cell_id(cell) or 'a learner cell'}'")
            if result["tampering"]:
                for test in entry["tests"].values():
                    test["score"] = 0.0
                    test["message"] = "withheld: the tests' helpers or the kernel were tampered with"
            for gid, test in entry["tests"].items():
                # What the learner's own run of this test showed (from the submitted outputs): the feedback
                # quotes it where the grader's fresh run differs. Never used for the score.
                if gid in learner_runs:
                    test["learner_run"] = learner_runs[gid]
            cut = _cap_outputs(nb)
            if cut:
                result["reasons"].append("output over the grader's size limit removed from: " + ", ".join(cut))
            entry["executed"] = nbformat.writes(nb)
    except Exception as exc:  # the grader itself failed on this submission: reported, never dropped
        result["reasons"].append(f"grading failed: {type(exc).__name__}: {exc}")
    finally:
        if opened.get("fd") is not None:  # the grader failed between starting and reading a kernel
            os.close(opened["fd"])
        if opened.get("cgroup") is not None:
            from medai_lib.course.grading_sandbox import remove_cgroup

            remove_cgroup(opened["cgroup"])
        shutil.rmtree(work, ignore_errors=True)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    result["reasons"] = sorted(set(result["reasons"]))
    result["tampering"] = sorted(set(result["tampering"]))
    result["seconds"] = time.perf_counter() - t_start
    result["exec_seconds"] = exec_seconds
    return result


# --------------------------------------------------------------------------------------------- orchestration
def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _validate_limits(jobs, cell_timeout, timeout, memory_mb) -> None:
    for name, value, low in (("jobs", jobs, 1), ("cell_timeout", cell_timeout, 1), ("timeout", timeout, 1),
                             ("memory_mb", memory_mb, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise MedaiInputError(f"{name} must be an integer >= {low}; got {value!r}.")


def grade_lab(
    lab: str,
    submissions: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    roster: str | os.PathLike | None = None,
    jobs: int = 2,
    cell_timeout: int = 180,
    timeout: int = 1200,
    memory_mb: int = 4096,
    show_hidden: bool = False,
    out: str | os.PathLike | None = None,
    regrade: bool = False,
    db_url: str | None = None,
    progress=None,
    sandbox: bool = True,
) -> GradingSummary:
    """Grade every submission of ``lab`` and write gradebook entries, feedback, grades CSV and class report.

    Parameters
    ----------
    lab : str, e.g. ``"lab00"`` or ``"lab00_clinical_values"``
    submissions : folder or .zip in the ``<lab>_<student>_attempt_<YYYYMMDDTHHMMSS>_<notebook>`` naming
    root : course folder (default: found from the current folder)
    roster : CSV with ``student_id`` (optional first_name, last_name, email); listed students without a
        submission get 0 and an attention entry
    jobs : submissions graded at once (each in its own kernel)
    cell_timeout, timeout : seconds per cell and per submission (wall clock)
    memory_mb : address-space limit of each kernel (0: none)
    show_hidden : show hidden test code and tracebacks in the learners' feedback (default: hidden)
    out : output folder (default ``<root>/autograded/<lab>-grading``)
    regrade : grade again even when a submission, its lab and the limits are unchanged since the last run
    db_url : gradebook to merge results into (default the course's ``sqlite:///<root>/gradebook.db``)
    sandbox : run each kernel in the sealed sandbox of :mod:`medai_lib.course.grading_sandbox` (default);
        ``False`` only for submissions you trust: every result then says it was graded without one

    Returns
    -------
    GradingSummary

    Examples
    --------
    >>> summary = grade_lab("lab00", "exports/lab00.zip", roster="roster.csv", jobs=2)  # doctest: +SKIP
    >>> summary.grades[["student_id", "score", "max_score"]]  # doctest: +SKIP
    """
    from medai_lib.course import grading_report

    _validate_limits(jobs, cell_timeout, timeout, memory_mb)
    if sandbox:
        from medai_lib.course.grading_sandbox import check_sandbox

        check_sandbox()
    t0 = time.perf_counter()
    root = Path(root).resolve() if root else repo_root()
    lab = resolve_lab(root, lab, kind="labs")
    release_dir = root / "labs" / lab
    masters = build_master(root, lab)
    notebooks = sorted(masters)
    out_dir = Path(out).resolve() if out else root / "autograded" / f"{lab}-grading"
    if not Path(submissions).exists():
        raise MedaiInputError(f"submissions '{submissions}' do not exist; give a folder or a .zip of submissions.")
    out_dir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    roster_rows = read_roster(roster) if roster else []

    # Every grading run lives under one parent that every learner kernel has hidden, so a kernel cannot
    # find another run's submissions (parallel runs, or folders a killed run left behind).
    grading_root = _grading_root()
    run_dir = Path(tempfile.mkdtemp(prefix="medai-grade-", dir=grading_root))
    try:
        subs, attention = collect_submissions(submissions, notebooks=notebooks, staging=run_dir / "collected")
        master_key = _sha(*(json.dumps(masters[n], sort_keys=True).encode() for n in notebooks),
                          *(p.read_bytes() for p in sorted(release_dir.rglob("*")) if p.is_file()),
                          f"{GRADER_VERSION}|{cell_timeout}|{timeout}|{memory_mb}|{sandbox}".encode())
        data_dirs = _shared_data_dirs() if sandbox else []
        mpl_cache = _matplotlib_cache(run_dir / "mpl") if sandbox else None
        results_dir = out_dir / "results"
        results_dir.mkdir(exist_ok=True)
        tasks, results = [], []
        for sub in subs:
            key = _sha(*(Path(sub.files[n]).read_bytes() for n in sorted(sub.files)), master_key.encode())
            cached = results_dir / f"{sub.student_id}.json"
            if not regrade and cached.exists():
                previous = json.loads(cached.read_text())
                if previous.get("key") == key:
                    results.append(previous)
                    continue
            tasks.append({"student_id": sub.student_id, "timestamp": sub.timestamp, "files": sub.files,
                          "labels": list(sub.labels),
                          "key": key, "masters": masters, "release_dir": str(release_dir),
                          "run_dir": str(run_dir), "memory_mb": memory_mb, "timeout": timeout,
                          "cell_timeout": cell_timeout, "sandbox": sandbox, "data_dirs": data_dirs,
                          "mpl_cache": mpl_cache})
        log.info("grading %d submission(s) of %s (%d unchanged), %d at a time", len(tasks), lab,
                 len(results), jobs)
        fresh = _run_tasks(tasks, jobs, progress)
        for res in fresh:
            (results_dir / f"{res['student_id']}.json").write_text(json.dumps(res))
        results += fresh
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    results.sort(key=lambda r: r["student_id"])
    for res in results:
        for nb_name, entry in res["notebooks"].items():
            if entry.get("executed"):
                target = out_dir / "autograded" / res["student_id"] / nb_name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(entry["executed"])
    merge_gradebook(db_url, lab, masters, results, roster_rows)
    tables = grading_report.tables(lab, results, attention, roster_rows)
    grades, questions, attention_df = tables
    grades_csv = out_dir / "grades.csv"
    grades.to_csv(grades_csv, index=False)
    attention_df.to_csv(out_dir / "attention.csv", index=False)
    for res in results:
        grading_report.write_feedback(out_dir / "feedback" / res["student_id"] / f"{lab}.html", lab, res, masters,
                                      show_hidden=show_hidden)
    manual_csv = export_manual(out_dir / "manual_grading.csv", lab, masters, results)
    report_html = grading_report.write_class_report(out_dir / "report.html", lab, grades, questions, attention_df)
    return GradingSummary(lab, out_dir, grades, questions, attention_df, grades_csv, report_html, manual_csv,
                          db_url, time.perf_counter() - t0, tuple(results))


def _grading_root() -> Path:
    """The grader's own scratch parent, <tmp>/medai-grading-<uid>: on a shared server each instructor (or the
    course's service user) has one that only they can enter."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    root = Path(tempfile.gettempdir()) / f"medai-grading-{uid}"
    root.mkdir(mode=0o700, exist_ok=True)
    info = root.lstat()
    if root.is_symlink() or info.st_uid != uid or info.st_mode & 0o077:
        raise MedaiInputError(f"the grading scratch folder '{root}' is not yours alone (owner uid {info.st_uid}, "
                              f"mode {oct(info.st_mode & 0o777)}); remove it, or set TMPDIR to a folder of yours.")
    return root


def _shared_data_dirs() -> list[str]:
    """The prepared sample-data cache, shown read-only to every kernel (a kernel writes its own copy)."""
    from medai_lib.data.cache import data_home

    path = data_home(create=False)
    return [str(path.resolve())] if path.is_dir() else []


def _matplotlib_cache(folder: Path) -> str | None:
    """Build matplotlib's font list once per grading run; each kernel starts from a copy (no rebuild)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MPLCONFIGDIR": str(folder), "MPLBACKEND": "Agg"}
    try:
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, capture_output=True,
                       timeout=120, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return str(folder)


def _run_tasks(tasks: list[dict], jobs: int, progress=None) -> list[dict]:
    if not tasks:
        return []
    if jobs == 1 or len(tasks) == 1:
        out = []
        for task in tasks:
            out.append(_safe_grade(task))
            if progress:
                progress(out[-1])
        return out
    import multiprocessing

    out = []
    # Spawned, not forked: a fork of a process that already drove a kernel (zmq, asyncio) can hang.
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(grade_submission, task): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                res = future.result()
            except Exception as exc:  # a worker died: the submission is reported, never dropped
                res = _failed(task, f"grading worker failed: {type(exc).__name__}: {exc}")
            out.append(res)
            if progress:
                progress(res)
    return out


def _safe_grade(task: dict) -> dict:
    try:
        return grade_submission(task)
    except Exception as exc:
        return _failed(task, f"grading failed: {type(exc).__name__}: {exc}")


def _failed(task: dict, reason: str) -> dict:
    return {"student_id": task["student_id"], "timestamp": task["timestamp"], "key": "", "notebooks": {},
            "labels": task.get("labels", []),
            "reasons": [reason], "notes": [], "review": [], "tampering": [], "sandbox": [], "seconds": 0.0,
            "exec_seconds": 0.0}


# --------------------------------------------------------------------------------------------- gradebook
def _alembic_on_path() -> None:
    # nbgrader runs the `alembic` executable when it creates a gradebook: the environment's bin/ must be on PATH.
    bindir = str(Path(sys.executable).parent)
    if shutil.which("alembic") is None and bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def merge_gradebook(db_url: str, lab: str, masters: dict, results: list[dict], roster: list[dict]) -> None:
    """Write the lab's definition and every result into an nbgrader gradebook (created if absent).

    Automatic scores go to ``auto_score``; manual scores already entered (formgrader or
    :func:`import_manual`) are kept."""
    import nbformat
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.utils import compute_checksum

    _alembic_on_path()
    with warnings.catch_warnings(), Gradebook(db_url, course_id="medai") as gb:
        # nbgrader's own session handling warns while creating submissions; the rows are written correctly.
        warnings.filterwarnings("ignore", message=".*not in session.*")
        gb.update_or_create_assignment(lab)
        for nb_name, info in masters.items():
            nb_id = nb_name[:-len(".ipynb")]
            gb.update_or_create_notebook(nb_id, lab)
            master = nbformat.reads(info["nb"], as_version=4)
            for cell in master.cells:
                meta = cell.metadata.get("nbgrader", {})
                gid = meta.get("grade_id")
                if not gid:
                    continue
                if meta.get("grade"):
                    gb.update_or_create_grade_cell(gid, nb_id, lab, max_score=float(meta.get("points", 0)),
                                                   cell_type=cell.cell_type)
                if meta.get("solution"):
                    gb.update_or_create_solution_cell(gid, nb_id, lab)
                gb.update_or_create_source_cell(gid, nb_id, lab, cell_type=cell.cell_type, locked=bool(meta.get("locked")),
                                                source=cell.source, checksum=compute_checksum(cell))
        for row in roster:
            gb.update_or_create_student(row["student_id"], first_name=row["first_name"] or None,
                                        last_name=row["last_name"] or None, email=row["email"] or None)
        for res in results:
            if not res["notebooks"]:
                continue
            sid = res["student_id"]
            try:
                gb.find_student(sid)
            except MissingEntry:
                gb.add_student(sid)
            gb.update_or_create_submission(lab, sid)
            for nb_name, entry in res["notebooks"].items():
                nb_id = nb_name[:-len(".ipynb")]
                for gid, test in entry["tests"].items():
                    grade = gb.find_grade(gid, nb_id, lab, sid)
                    grade.auto_score = float(test["score"])
                    grade.needs_manual_grade = bool(res["tampering"])
                for gid in entry["manual"]:
                    grade = gb.find_grade(gid, nb_id, lab, sid)
                    grade.auto_score = None
                    grade.needs_manual_grade = grade.manual_score is None
            gb.db.commit()


def gradebook_scores(db_url: str, lab: str) -> dict[str, float]:
    """Total score per student of ``lab`` in a gradebook (manual scores where entered)."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id="medai") as gb:
        return {s.student.id: float(s.score) for s in gb.find_assignment(lab).submissions}


# --------------------------------------------------------------------------------------------- manual grading
MANUAL_COLUMNS = ["student_id", "lab", "notebook", "grade_id", "max_points", "score", "comment", "answer", "rubric"]


def export_manual(path: Path, lab: str, masters: dict, results: list[dict]) -> Path:
    """Write every free-text answer with its rubric to a CSV; fill ``score`` (and ``comment``) and read it
    back with :func:`import_manual`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, MANUAL_COLUMNS)
        writer.writeheader()
        for res in results:
            for nb_name, entry in res["notebooks"].items():
                for gid, item in entry["manual"].items():
                    writer.writerow({"student_id": res["student_id"], "lab": lab, "notebook": nb_name, "grade_id": gid,
                                     "max_points": item["max"], "score": "", "comment": "", "answer": item["answer"],
                                     "rubric": masters[nb_name]["rubrics"].get(gid, "")})
    return path


def import_manual(path: str | os.PathLike, *, db_url: str) -> int:
    """Read manual scores from a CSV written by :func:`export_manual` into the gradebook.

    Rows with an empty score are skipped. Returns the number of scores written. A score outside
    ``[0, max_points]`` or an unknown student/cell raises MedaiInputError naming the row."""
    from nbgrader.api import Gradebook, MissingEntry

    path = Path(path)
    if not path.exists():
        raise MedaiInputError(f"manual scores file '{path}' does not exist.")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    missing = {"student_id", "lab", "notebook", "grade_id", "score"} - set(rows[0] if rows else MANUAL_COLUMNS)
    if missing:
        raise MedaiInputError(f"'{path}' lacks column(s) {sorted(missing)}; use the file `medai grade` exported.")
    written = 0
    with Gradebook(db_url, course_id="medai") as gb:
        for line, row in enumerate(rows, start=2):
            raw = (row.get("score") or "").strip()
            if not raw:
                continue
            try:
                score = float(raw)
            except ValueError:
                raise MedaiInputError(f"'{path}' line {line}: score {raw!r} is not a number.") from None
            nb_id = row["notebook"][:-len(".ipynb")] if row["notebook"].endswith(".ipynb") else row["notebook"]
            try:
                grade = gb.find_grade(row["grade_id"], nb_id, row["lab"], row["student_id"])
            except MissingEntry:
                raise MedaiInputError(f"'{path}' line {line}: no graded submission of {row['student_id']} for "
                                      f"cell {row['grade_id']}; grade the lab first.") from None
            if not 0 <= score <= grade.max_score:
                raise MedaiInputError(f"'{path}' line {line}: score {score:g} is outside 0 to {grade.max_score:g} "
                                      f"for cell {row['grade_id']}.")
            grade.manual_score = score
            grade.needs_manual_grade = False
            comment_text = (row.get("comment") or "").strip()
            if comment_text:
                try:
                    gb.find_comment(row["grade_id"], nb_id, row["lab"], row["student_id"]).manual_comment = comment_text
                except MissingEntry:
                    pass
            written += 1
        gb.db.commit()
    return written


# --------------------------------------------------------------------------------------------- CLI
def add_parser(sub) -> None:
    """Register ``medai grade`` on an argparse sub-parsers object."""
    g = sub.add_parser("grade", help="grade a class's submissions of a lab (isolated, parallel, nbgrader gradebook)")
    g.add_argument("lab", help="e.g. lab00")
    g.add_argument("submissions", help="folder or .zip of <lab>_<student>_attempt_<time>_<notebook> files")
    g.add_argument("--roster", help="CSV with student_id (and first_name, last_name, email)")
    g.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    g.add_argument("--cell-timeout", type=int, default=180,
                   help="seconds per cell (default 180: a safety net for endless loops, generous enough that a busy "
                        "machine never fails a correct cell)")
    g.add_argument("--timeout", type=int, default=1200, help="seconds per submission, wall clock (default 1200)")
    g.add_argument("--memory-mb", type=int, default=4096, help="memory limit per kernel in MB (default 4096)")
    g.add_argument("--show-hidden", action="store_true", help="show hidden tests in the learners' feedback")
    g.add_argument("--out", help="output folder (default autograded/<lab>-grading)")
    g.add_argument("--regrade", action="store_true", help="grade every submission again (e.g. after a test fix)")
    g.add_argument("--db", help="gradebook URL (default sqlite:///<course>/gradebook.db)")
    g.add_argument("--manual-scores", help="after grading, import manual scores from this CSV")
    g.add_argument("--no-sandbox", action="store_true",
                   help="run kernels without the bubblewrap sandbox (only for submissions you trust)")
    g.set_defaults(func=cmd_grade)


def cmd_grade(args) -> int:
    """``medai grade``: grade, then print where everything is and what needs attention."""
    def show(res):
        total = sum(t["score"] for e in res["notebooks"].values() for t in e["tests"].values())
        flag = "  ATTENTION" if res["reasons"] or res["tampering"] or res.get("sandbox") else ""
        print(f"  {res['student_id']}: {total:g} points ({res['seconds']:.1f} s){flag}", flush=True)

    summary = grade_lab(args.lab, args.submissions, roster=args.roster, jobs=args.jobs, cell_timeout=args.cell_timeout,
                        timeout=args.timeout, memory_mb=args.memory_mb, show_hidden=args.show_hidden,
                        out=args.out, regrade=args.regrade, db_url=args.db, progress=show,
                        sandbox=not args.no_sandbox)
    if args.manual_scores:
        n = import_manual(args.manual_scores, db_url=summary.gradebook_url)
        print(f"imported {n} manual score(s)")
    print(f"graded {len(summary.results)} submission(s) of {summary.lab} in {summary.seconds:.0f} s")
    print(f"grades (LMS CSV): {summary.grades_csv}")
    print(f"class report:     {summary.report_html}")
    print(f"feedback:         {summary.out_dir / 'feedback'}")
    print(f"manual grading:   {summary.manual_csv} (fill 'score', then --manual-scores FILE)")
    if len(summary.attention):
        print(f"{len(summary.attention)} item(s) need attention (see the report):")
        for row in summary.attention.itertuples():
            print(f"  {row.student_id or '-'} {row.file or ''}: {row.reason}")
    return 0
