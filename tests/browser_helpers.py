"""Helpers for the browser test: a JupyterLab server on a temporary copy of the course, and Playwright
steps that act the way a learner does (menus, clicks, keys), each followed by a screenshot."""
from __future__ import annotations

import json
import os
import pty
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from medai_lib.course.kernel import lab_command

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-dev-shm-usage",  # containers often give /dev/shm only 64 MB
]
#: What a learner's copy of the course holds (the learner tree without the library, which is installed).
COURSE_PARTS = ("course", "labs", "nbgrader_config.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(src: Path, dest: Path) -> Path:
    """Copy the parts of the course a learner sees into ``dest`` (checkpoints left out)."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in COURSE_PARTS:
        path = src / part
        if path.is_dir():
            skip = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
            shutil.copytree(path, dest / part, ignore=skip)
        elif path.exists():
            shutil.copy2(path, dest / part)
    return dest


@dataclass
class LabServer:
    """A running ``medai serve``-style JupyterLab server."""

    root: Path
    port: int
    token: str
    proc: subprocess.Popen
    env: dict[str, str]
    log_path: Path
    _log: object = field(repr=False, default=None)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()


def start_lab_server(root: Path, scratch: Path, *, token: str = "browser-test-token",
                     timeout: float = 90.0) -> LabServer:
    """Start JupyterLab the way ``medai serve`` does, on ``root``, with Jupyter's per-user folders in
    ``scratch`` (the project kernel is still found: it lives in the environment's share/jupyter)."""
    port = free_port()
    cmd, env = lab_command(root, port=port, open_browser=False, token=token)
    for name in ("config", "runtime", "data"):
        (scratch / name).mkdir(parents=True, exist_ok=True)
    env["JUPYTER_CONFIG_DIR"] = str(scratch / "config")
    env["JUPYTER_RUNTIME_DIR"] = str(scratch / "runtime")
    env["JUPYTER_DATA_DIR"] = str(scratch / "data")
    env["MEDAI_COURSE_ROOT"] = str(root)
    env["OMP_NUM_THREADS"] = "1"
    # A learner's kernel draws figures inline; a batch setting such as MPLBACKEND=Agg (CI sets it) would
    # hide them.
    env.pop("MPLBACKEND", None)
    log_path = scratch / "jupyterlab.log"
    log = open(log_path, "w")
    # `make lab` runs in a learner's terminal: stdout is a TTY there. JupyterLab decides on that whether its
    # terminals run a login shell (which resets PATH on Debian), so the test gives it a TTY too.
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdin=subprocess.DEVNULL, stdout=slave, stderr=log)
    os.close(slave)
    threading.Thread(target=_drain, args=(master, log), daemon=True).start()
    server = LabServer(root=root, port=port, token=token, proc=proc, env=env, log_path=log_path, _log=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            server.stop()
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base}/api/status?token={token}", timeout=5) as resp:
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def _drain(fd: int, log) -> None:
    """Copy what the server writes to its terminal into the log (a full PTY buffer would block it)."""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        try:
            log.write(chunk.decode(errors="replace"))
            log.flush()
        except ValueError:  # log closed after the server stopped
            break
    os.close(fd)


class Steps:
    """Screenshots named by step number, so a failing run shows where it stopped."""

    def __init__(self, page, folder: Path):
        self.page = page
        self.folder = folder
        self.n = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}_{re.sub(r'[^A-Za-z0-9_-]+', '_', name)}.png"
        self.page.screenshot(path=str(path))
        return path


def click_menu(page, menu: str, item: str) -> None:
    """Open a top-level menu (File, Run, Kernel...) and choose one of its items, as with the mouse."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(menu)}$")).click()
    label = re.compile(rf"^{re.escape(item)}$")
    page.locator(".lm-Menu-content .lm-Menu-itemLabel", has_text=label).first.click()


def active_notebook(page):
    """The notebook panel currently shown in the main area."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").last


_SHOWN_PANEL = """const panels = [...document.querySelectorAll('.jp-NotebookPanel')]
                .filter(p => !p.classList.contains('lm-mod-hidden'));
            const panel = panels[panels.length - 1];"""


def server_kernel_state(server: LabServer, notebook: str) -> str | None:
    """The execution state the server reports for the kernel of the session whose path ends in
    ``notebook`` (None while there is no such session)."""
    request = urllib.request.Request(f"{server.base}/api/sessions",
                                     headers={"Authorization": f"token {server.token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            sessions = json.load(resp)
    except (urllib.error.URLError, ConnectionError, OSError, ValueError):
        return None
    for session in sessions:
        if str(session.get("path", "")).endswith(notebook) and session.get("kernel"):
            return session["kernel"].get("execution_state")
    return None


def wait_kernel_idle(page, server: LabServer | None = None, notebook: str | None = None, *,
                     display_name: str = "MedAI (Python 3)", timeout_ms: int = 90_000) -> None:
    """Wait until the shown notebook is connected to a started, idle kernel named ``display_name``.

    JupyterLab shows the kernel's name while the session is still being created, and its execution
    indicator reads "idle" before any kernel is attached; on a loaded machine the toolbar can pass
    through "No Kernel" after that. So the wait also asks the server: its session for ``notebook`` must
    have a kernel that is idle, and the toolbar must still agree afterwards."""
    ui_ready = """() => {
            %s
            if (!panel) return false;
            const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
            const name = panel.querySelector('.jp-KernelName');
            if (!name || !name.textContent.includes(%s)) return false;
            return indicator ? indicator.getAttribute('data-status') === 'idle' : true;
        }""" % (_SHOWN_PANEL, json.dumps(display_name))
    deadline = time.monotonic() + timeout_ms / 1000
    state = None
    while True:
        left_ms = max(1_000, int((deadline - time.monotonic()) * 1000))
        page.wait_for_function(ui_ready, timeout=left_ms)
        if server is None or notebook is None:
            return
        state = server_kernel_state(server, notebook)
        if state == "idle":
            page.wait_for_function(ui_ready, timeout=max(1_000, int((deadline - time.monotonic()) * 1000)))
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the kernel of {notebook} is not idle after {timeout_ms / 1000:.0f} s (server says "
                f"{state!r}); JupyterLab's log ends with:\n{server.log_tail()}")
        time.sleep(0.3)


def wait_all_cells_run(page, timeout_ms: int = 120_000) -> None:
    """Wait until every code cell of the shown notebook has an execution count (none queued or running),
    or a cell shows a traceback (Run All stops there; the caller then finds the error in the saved file)."""
    page.wait_for_function(
        """() => {
            %s
            if (!panel) return false;
            const errors = [...panel.querySelectorAll(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")];
            if (errors.some(e => /Traceback|Error:/.test(e.textContent))) return true;
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""" % _SHOWN_PANEL,
        timeout=timeout_ms,
    )
