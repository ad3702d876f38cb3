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


#: The folders a learner works in: the only ones the course server lists at the top of the course folder.
LEARNER_FOLDERS = ("course", "labs", "work")
#: nbgrader's server side: the instructor's tools (formgrader, validation, course list) and the exchange
#: client (assignment list). A learner on their own machine starts and submits labs with `medai lab`.
NBGRADER_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.validate_assignment",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
)
#: nbgrader's JupyterLab side: Create Assignment, Validate, Formgrader and the Nbgrader menu.
NBGRADER_LAB_EXTENSION = "@jupyter/nbgrader"


def write_learner_config(folder: Path) -> Path:
    """Write the learner server's JupyterLab page config into ``folder/labconfig`` (nbgrader's lab side
    off); ``folder`` goes first on ``JUPYTER_CONFIG_PATH`` for that server only. Returns ``folder``."""
    labconfig = Path(folder) / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    page_config = {"disabledExtensions": {NBGRADER_LAB_EXTENSION: True}}
    (labconfig / "page_config.json").write_text(json.dumps(page_config, indent=2))
    return Path(folder)


def _default_learner_config_dir() -> Path:
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir()) / "medai-learner-config"


def start_url_path(start_file: str) -> str:
    """The JupyterLab URL path that opens ``start_file`` (relative to the course folder)."""
    from urllib.parse import quote

    return "/lab/tree/" + quote(Path(start_file).as_posix())


def lab_command(root: Path, *, port: int = 8888, open_browser: bool = True, token: str | None = None,
                start_file: str = "course/README.md", instructor: bool = False,
                config_dir: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """The JupyterLab command line: localhost only, token authentication, no news or update checks.

    The link it prints and opens shows ``start_file`` (the course index). For a learner (the default) the
    file browser lists only :data:`LEARNER_FOLDERS`, nbgrader's instructor tools are not loaded and the
    project kernel is the only one offered; ``instructor=True`` serves the whole checkout with every
    installed extension and kernel. ``config_dir``: where the learner server's page config is written
    (default: a folder in Jupyter's runtime directory).
    """
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
    # The printed link and the browser open the course index itself, not the Launcher.
    if (root / start_file).exists():
        cmd.append(f"--LabApp.default_url={start_url_path(start_file)}")
    # Terminals start a non-login shell, so they keep this environment's PATH (a login shell started by a
    # server without a terminal resets it, and `medai lab start` would not be found).
    shell = os.environ.get("SHELL") or ("/bin/bash" if Path("/bin/bash").exists() else "/bin/sh")
    cmd.append("--ServerApp.terminado_settings=" + json.dumps({"shell_command": [shell]}))
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")  # containers and CI run as root
    env = dict(os.environ)
    if not instructor:
        cmd += [
            "--ServerApp.contents_manager_class=medai_lib.course.lab_contents.CourseContentsManager",
            f"--KernelSpecManager.allowed_kernelspecs={KERNEL_NAME}",
            f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}",
        ]
        for extension in NBGRADER_SERVER_EXTENSIONS:
            cmd += ["--ServerApp.jpserver_extensions", f"{extension}=False"]
        folder = write_learner_config(config_dir or _default_learner_config_dir())
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            [str(folder)] + [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p])
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
