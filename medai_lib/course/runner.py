"""Execute course notebooks headless with papermill and summarise the run.

``medai run`` is a thin command-line wrapper around :func:`run_notebooks`. Every notebook runs in its
own kernel with a per-cell timeout; executed copies, ``summary.json`` and ``summary.md`` are written to
an output folder outside the repository by default (executed notebooks may hold patient data).
"""
from __future__ import annotations

import ast
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medai_lib.errors import MedaiInputError
from medai_lib.recording import RECORD_MIME

log = logging.getLogger(__name__)

DEFAULT_KERNEL = "medai"
CONTRACT_PARAMETERS = ("QUICK", "DEVICE", "SEED", "DATA_DIR")
#: Budget keys a notebook declares in ``metadata.medai.budget``: seconds in quick mode on 2 CPU cores,
#: minutes and GPU memory (GiB) in full mode on one GPU.
BUDGET_KEYS = ("quick_cpu_s", "full_gpu_min", "gpu_memory_gb")
#: The metric a notebook (or the runner's closing cell on CUDA runs) records for peak GPU memory, in GiB.
GPU_PEAK_METRIC = "gpu_peak_memory_gb"
_GPU_PEAK_TAG = "medai-gpu-peak"
_GPU_PEAK_SOURCE = f"""# Added by `medai run` on CUDA runs: the kernel's peak GPU memory, for the run report.
import sys as _sys
_torch = _sys.modules.get("torch")
if _torch is not None and _torch.cuda.is_available() and _torch.cuda.is_initialized():
    from medai_lib.recording import record as _record
    _record("{GPU_PEAK_METRIC}", round(_torch.cuda.max_memory_allocated() / 1024**3, 3), display=False)"""


@dataclass
class NotebookResult:
    """The outcome of executing one notebook."""

    notebook: str
    status: str  # "ok" or "failed"
    seconds: float
    output: str | None
    parameters: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    budget: dict[str, Any] | None = None  # the notebook's metadata.medai.budget (None: not declared)
    gpu_peak_memory_gb: float | None = None  # where the kernel used a GPU and recorded its peak

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def reason(self) -> str:
        """One line saying why the notebook failed (empty when it did not)."""
        if self.ok or not self.error:
            return ""
        err = self.error
        where = f"cell {err['cell_index']}: " if err.get("cell_index") is not None else ""
        return f"{where}{err.get('ename', 'Error')}: {err.get('evalue', '')}".strip()


@dataclass
class RunSummary:
    """All results of one ``medai run``."""

    out_dir: str
    started: str
    quick: bool
    device: str
    results: list[NotebookResult]
    commit: str | None = None  # `git rev-parse HEAD` of the notebooks' repository, when there is one
    machine: str | None = None  # the runner's host: GPU name and memory when nvidia-smi answers, CPU cores

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_json(self) -> dict:
        return {
            "out_dir": self.out_dir,
            "started": self.started,
            "quick": self.quick,
            "device": self.device,
            "commit": self.commit,
            "machine": self.machine,
            "ok": self.ok,
            "results": [asdict(r) for r in self.results],
        }

    @classmethod
    def from_json(cls, data: dict) -> "RunSummary":
        """The inverse of :meth:`to_json` (fields added later default to None in older summaries)."""
        known = set(NotebookResult.__dataclass_fields__)
        results = [NotebookResult(**{k: v for k, v in r.items() if k in known}) for r in data["results"]]
        return cls(out_dir=data["out_dir"], started=data["started"], quick=data["quick"],
                   device=data["device"], results=results, commit=data.get("commit"),
                   machine=data.get("machine"))

    def table(self) -> str:
        """A readable fixed-width table: notebook, status, seconds, device, metrics, failing cell."""
        rows = [("notebook", "status", "seconds", "device", "metrics / reason")]
        for r in self.results:
            if r.ok:
                detail = ", ".join(f"{k}={_fmt(v)}" for k, v in list(r.metrics.items())[:6])
            else:
                detail = r.reason()
            rows.append((r.notebook, r.status, f"{r.seconds:.1f}", r.device or "-", detail[:110]))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = []
        for j, row in enumerate(rows):
            lines.append("  ".join(row[i].ljust(widths[i]) for i in range(4)) + "  " + row[4])
            if j == 0:
                lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 16)
        n_fail = sum(not r.ok for r in self.results)
        lines.append("")
        lines.append(
            f"{len(self.results) - n_fail} passed, {n_fail} failed"
            f" ({sum(r.seconds for r in self.results):.0f} s of notebook time); outputs in {self.out_dir}"
        )
        return "\n".join(lines)

    def markdown(self) -> str:
        head = "| notebook | status | seconds | device | metrics / reason |\n|---|---|---|---|---|\n"
        body = ""
        for r in self.results:
            detail = (
                ", ".join(f"{k}={_fmt(v)}" for k, v in r.metrics.items()) if r.ok else r.reason()
            ).replace("|", "\\|")
            body += f"| {r.notebook} | {r.status} | {r.seconds:.1f} | {r.device or '-'} | {detail} |\n"
        return f"# Notebook run {self.started}\n\nquick={self.quick}, device={self.device}\n\n" + head + body


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def discover_notebooks(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into a sorted list of notebooks (checkpoints excluded).

    Raises
    ------
    MedaiInputError
        A path that does not exist, a file that is not a notebook, or a folder holding none.
    """
    if not paths:
        raise MedaiInputError("no notebook given: pass notebook files or folders, e.g. `medai run course`.")
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise MedaiInputError(
                f"notebook path '{raw}' does not exist; give a .ipynb file or a folder holding notebooks."
            )
        if path.is_dir():
            nbs = sorted(
                p for p in path.rglob("*.ipynb")
                if ".ipynb_checkpoints" not in p.parts and not any(part.startswith(".") for part in p.parts)
            )
            if not nbs:
                raise MedaiInputError(f"folder '{raw}' holds no notebooks (*.ipynb).")
            found.extend(nbs)
        elif path.suffix != ".ipynb":
            raise MedaiInputError(f"'{raw}' is not a notebook (expected a .ipynb file).")
        else:
            found.append(path)
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def parse_parameter_value(text: str) -> Any:
    """Turn a command-line value into a Python value: numbers, True/False/None, lists; else a string."""
    if text in {"true", "false"}:
        return text == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The parameters declared in the notebook's cell tagged ``parameters`` (name -> default source)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # invalid JSON, not a notebook
        raise MedaiInputError(f"cannot read notebook '{path}': {exc}") from exc
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise MedaiInputError(
            f"notebook '{path}' has no cell tagged 'parameters'; add one near the top holding QUICK, DEVICE, "
            "SEED and DATA_DIR (in JupyterLab: select the cell, open the property inspector, add the tag)."
        )
    import papermill

    params = papermill.inspect_notebook(str(path))
    return {name: info.get("default") for name, info in params.items()}


def _plan(path: Path, quick: bool, device: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    declared = notebook_parameters(path)
    unknown = sorted(set(extra) - set(declared))
    if unknown:
        raise MedaiInputError(
            f"unknown parameter(s) {', '.join(unknown)} for notebook '{path}'; it declares: "
            f"{', '.join(sorted(declared)) or 'none'}."
        )
    params: dict[str, Any] = {}
    if quick and "QUICK" in declared:
        params["QUICK"] = True
    if device is not None and "DEVICE" in declared:
        params["DEVICE"] = device
    params.update(extra)
    return params


def _collect(nb) -> tuple[dict[str, Any], str | None]:
    metrics: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if RECORD_MIME in data:
                payload = data[RECORD_MIME]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                metrics[payload["name"]] = payload["value"]
    device = metrics.pop("device", None)
    return metrics, device


def declared_budget(path: str | os.PathLike) -> dict[str, Any] | None:
    """The budget a notebook declares in ``metadata.medai.budget`` (None when it declares none)."""
    try:
        meta = json.loads(Path(path).read_text()).get("metadata", {})
    except (OSError, ValueError):
        return None
    budget = (meta.get("medai") or {}).get("budget")
    if not isinstance(budget, dict):
        return None
    return {key: budget.get(key) for key in BUDGET_KEYS}


def _with_gpu_peak_cell(src: Path, folder: Path) -> Path:
    """A copy of the notebook with a closing cell that records the kernel's peak GPU memory."""
    import nbformat

    nb = nbformat.read(src, as_version=4)
    cell = nbformat.v4.new_code_cell(_GPU_PEAK_SOURCE)
    cell.metadata["tags"] = [_GPU_PEAK_TAG]
    cell.metadata["jupyter"] = {"source_hidden": True}
    nb.cells.append(cell)
    path = folder / src.name
    nbformat.write(nb, path)
    return path


def git_commit(folder: str | os.PathLike) -> str | None:
    """``git rev-parse HEAD`` in ``folder``, with ``+dirty`` when tracked files differ; None without git."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        head = subprocess.run([git, "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=20)
        if head.returncode != 0:
            return None
        dirty = subprocess.run([git, "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def describe_machine() -> str:
    """One line naming this machine's GPUs (from nvidia-smi, without importing torch) and CPU cores."""
    cores = os.cpu_count() or 1
    smi = shutil.which("nvidia-smi")
    gpus: list[str] = []
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=20)
            for line in out.stdout.strip().splitlines() if out.returncode == 0 else []:
                name, _, mib = line.rpartition(",")
                gpus.append(f"{name.strip()} ({float(mib) / 1024:.0f} GiB)" if name else line.strip())
        except (OSError, subprocess.SubprocessError, ValueError):
            gpus = []
    gpu_text = ", ".join(gpus) if gpus else "no GPU"
    return f"{gpu_text}; {cores} CPU cores"


def _execute_one(job: dict) -> dict:
    """Run one notebook (in a worker process); never raises, returns a NotebookResult as a dict."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from medai_lib.course.kernel import ipc_kernel_manager_class

    src = Path(job["path"])
    out = Path(job["output"])
    out.parent.mkdir(parents=True, exist_ok=True)
    env_threads = job.get("threads")
    if env_threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(env_threads)
    # Executed notebooks keep their figures: kernels draw inline even where a batch setting (MPLBACKEND=Agg) is set.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    start = time.perf_counter()
    error = None
    scratch = None
    source = src
    if str(job["parameters"].get("DEVICE", "")).startswith("cuda"):
        scratch = Path(tempfile.mkdtemp(prefix="medai-run-"))
        source = _with_gpu_peak_cell(src, scratch)
    try:
        papermill.execute_notebook(
            str(source),
            str(out),
            parameters=job["parameters"],
            kernel_name=job.get("kernel_name"),
            cwd=str(src.parent),
            progress_bar=False,
            log_output=False,
            execution_timeout=job["timeout"],
            start_timeout=120,
            kernel_manager_class=ipc_kernel_manager_class(),
        )
    except PapermillExecutionError as exc:
        error = {
            "cell_index": exc.cell_index,
            "ename": exc.ename,
            "evalue": str(exc.evalue)[:500],
            "source": (exc.source or "")[:300],
        }
    except Exception as exc:  # timeout, dead kernel, missing kernel...
        error = {
            "cell_index": None,
            "ename": type(exc).__name__,
            "evalue": (str(exc).strip().splitlines() or [""])[-1][:500],
            "traceback": traceback.format_exc()[-2000:],
        }
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - start
    metrics: dict[str, Any] = {}
    device = job["parameters"].get("DEVICE")
    if out.exists():
        try:
            nb = nbformat.read(out, as_version=4)
            metrics, recorded_device = _collect(nb)
            device = recorded_device or device
            if error and error.get("cell_index") is None:
                # papermill marks the failing cell; find it for timeouts and dead kernels too.
                for i, cell in enumerate(nb.cells):
                    if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                        error["cell_index"] = i
                        break
        except Exception:  # the executed copy may be partial when a kernel dies
            pass
    gpu_peak = _number(metrics.pop(GPU_PEAK_METRIC, None))
    return asdict(
        NotebookResult(
            notebook=job["name"],
            status="ok" if error is None else "failed",
            seconds=round(seconds, 2),
            output=str(out) if out.exists() else None,
            parameters=job["parameters"],
            device=str(device) if device is not None else None,
            metrics=metrics,
            error=error,
            budget=declared_budget(src),
            gpu_peak_memory_gb=gpu_peak,
        )
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def default_out_dir() -> Path:
    """``$MEDAI_RUNS`` or ``~/.cache/medai/runs/<timestamp>``: outside the repository by default."""
    base = os.environ.get("MEDAI_RUNS")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "medai" / "runs"
    return root / datetime.now().strftime("%Y%m%d-%H%M%S")


def run_notebooks(
    paths: list[str | os.PathLike],
    *,
    quick: bool = False,
    device: str | None = None,
    jobs: int = 1,
    timeout: int = 600,
    out_dir: str | os.PathLike | None = None,
    parameters: dict[str, Any] | None = None,
    kernel_name: str | None = None,
    threads: int | None = None,
    progress=None,
) -> RunSummary:
    """Execute notebooks with papermill and summarise them.

    Parameters
    ----------
    paths : list of notebook files or folders
    quick : bool, default False
        Inject ``QUICK=True`` (small sizes, few epochs; every cell still runs).
    device : str, optional
        Inject ``DEVICE`` (e.g. ``"cuda"``); validated by :func:`medai_lib.device.get_device` in the notebook.
    jobs : int, default 1
        Notebooks executed at once, each in its own kernel.
    timeout : int, default 600
        Per-cell timeout in seconds.
    out_dir : path, optional
        Where executed notebooks and the summary go; default :func:`default_out_dir`.
    parameters : dict, optional
        Extra parameters (e.g. ``{"DATA_DIR": "/data/psg"}``); each must be declared by every notebook run.
    kernel_name : str, optional
        Kernel to use instead of the notebook's own kernelspec.
    threads : int, optional
        CPU threads per kernel (OMP_NUM_THREADS...); default: the cores divided among the jobs.
    progress : callable, optional
        Called with each :class:`NotebookResult` as it finishes.

    Returns
    -------
    RunSummary
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise MedaiInputError(f"jobs must be a positive integer; got {jobs!r}.")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise MedaiInputError(f"timeout must be a positive number of seconds; got {timeout!r}.")
    if device is not None:
        from medai_lib.device import _DEVICE_RE

        if not _DEVICE_RE.match(str(device).lower()):
            raise MedaiInputError(
                f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps."
            )
    notebooks = discover_notebooks(paths)
    parameters = dict(parameters or {})
    plans = [(nb, _plan(nb, quick, device, parameters)) for nb in notebooks]
    out = Path(out_dir) if out_dir is not None else default_out_dir()
    out.mkdir(parents=True, exist_ok=True)
    if threads is None and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // jobs)
    cwd = Path.cwd().resolve()
    jobs_list = []
    for nb, params in plans:
        resolved = nb.resolve()
        try:
            name = str(resolved.relative_to(cwd))
        except ValueError:
            name = str(nb)
        jobs_list.append(
            {
                "path": str(resolved),
                "name": name,
                "output": str(out / name.lstrip("/")),
                "parameters": params,
                "timeout": int(timeout),
                "kernel_name": kernel_name,
                "threads": threads,
            }
        )
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results: list[NotebookResult] = []
    if jobs == 1 or len(jobs_list) == 1:
        for job in jobs_list:
            res = NotebookResult(**_execute_one(job))
            results.append(res)
            if progress:
                progress(res)
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(jobs_list))) as pool:
            futures = [pool.submit(_execute_one, job) for job in jobs_list]
            for fut in futures:
                res = NotebookResult(**fut.result())
                results.append(res)
                if progress:
                    progress(res)
    summary = RunSummary(
        out_dir=str(out), started=started, quick=quick, device=device or "notebook default", results=results,
        # A host that receives the tree without its .git (a GPU host, say) is told the commit instead.
        commit=git_commit(notebooks[0].resolve().parent) or os.environ.get("MEDAI_COMMIT") or None,
        machine=describe_machine(),
    )
    (out / "summary.json").write_text(json.dumps(summary.to_json(), indent=2, default=str))
    (out / "summary.md").write_text(summary.markdown())
    return summary
