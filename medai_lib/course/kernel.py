"""The project's Jupyter kernel and the JupyterLab server that ``make lab`` starts."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

KERNEL_NAME = "medai"
KERNEL_DISPLAY_NAME = "MedAI (Python 3)"

#: What makes a kernel's numbers reproducible: one math thread (float sums do not change order with the core
#: count) and a fixed hash seed. The learner's kernel and the grader's sandboxed kernel both run with these,
#: so a lab gives the learner the numbers the grader's rerun checks. A GPU kernel does its heavy work on the
#: GPU; one CPU thread costs quick mode little (the labs are sized for two cores).
REPRODUCIBLE_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                    "PYTHONHASHSEED": "0"}

#: JupyterLab settings for the course: Markdown opens rendered (the course index is course/README.md).
LAB_OVERRIDES = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}},
    "@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"},
}


def install_kernel(*, user: bool = False) -> Path:
    """Register the "MedAI (Python 3)" kernelspec for this Python environment (its prefix, or the user's)."""
    from ipykernel.kernelspec import install

    path = install(
        user=user,
        kernel_name=KERNEL_NAME,
        display_name=KERNEL_DISPLAY_NAME,
        prefix=None if user else sys.prefix,
        env=dict(REPRODUCIBLE_ENV),
    )
    return Path(path)


def write_lab_settings(prefix: str | None = None) -> Path:
    """Write JupyterLab's overrides.json into the environment (course defaults, no news or update checks)."""
    folder = Path(prefix or sys.prefix) / "share" / "jupyter" / "lab" / "settings"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "overrides.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(LAB_OVERRIDES)
    path.write_text(json.dumps(current, indent=2))
    return path


def lab_command(root: Path, *, port: int = 8888, open_browser: bool = True, token: str | None = None,
                start_file: str = "course/README.md") -> tuple[list[str], dict[str, str]]:
    """The JupyterLab command line: localhost only, token authentication, no news or update checks."""
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=20",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.open_browser={open_browser}",
        "--ServerApp.allow_remote_access=False",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.terminals_enabled=True",
    ]
    # Terminals start a non-login shell, so they keep this environment's PATH (a login shell started by a
    # server without a terminal resets it, and `medai lab start` would not be found).
    shell = os.environ.get("SHELL") or ("/bin/bash" if Path("/bin/bash").exists() else "/bin/sh")
    cmd.append("--ServerApp.terminado_settings=" + json.dumps({"shell_command": [shell]}))
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")  # containers and CI run as root
    if (root / start_file).exists():
        cmd.append(start_file)
    env = dict(os.environ)
    if token is not None:
        if not token:
            raise ValueError("token must not be empty: the course server always asks for one.")
        env["JUPYTER_TOKEN"] = token
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MEDAI_COURSE_ROOT", str(root))
    return cmd, env



def ipc_kernel_manager_class():
    """The kernel manager headless runs use (:class:`medai_lib.course.ipc.IpcKernelManager`)."""
    from medai_lib.course.ipc import IpcKernelManager

    return IpcKernelManager
