"""The sealed sandbox a submission's kernel runs in while it is graded (bubblewrap, Linux namespaces).

The kernel sees only:

- its own folder (the lab's released files, read-only, under a size-capped private tmpfs it may write to);
- the read-only environment it needs: the operating system's ``/usr`` and a few files of ``/etc``, the
  Python interpreter and its site-packages, the course library (``medai_lib`` alone, never the course tree
  around it) and the course's cached sample data;
- a private, size-capped ``/tmp`` (its home folder lives there), and the folder of its kernel connection.

Nothing else exists for it: no home folder, no other course or submission, no network (a new network
namespace with no interfaces), no other process (a new PID namespace: every process it starts ends when
grading ends, because the namespace's first process is killed with the grader's). It runs as ``nobody``
(uid 65534) in its own user namespace with every capability dropped, a new session (no terminal), a cap
on processes and the memory, CPU-time and file-size limits of :mod:`medai_lib.course.grading_kernel`.
Everything it writes lives in tmpfs mounts that vanish with it.

Requires the ``bwrap`` program (Debian/Ubuntu: ``apt-get install bubblewrap``) and a Linux kernel that
allows user namespaces; :func:`check_sandbox` says what is missing.
"""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from medai_lib.errors import MedaiInputError

#: The uid and gid the kernel has inside its user namespace.
SANDBOX_UID = 65534
#: Default caps on what one submission may write (MiB, in its folder and in /tmp) and how many processes
#: (threads included) it may run at once.
FILES_MB = 256
MAX_PROCESSES = 128
#: Files of /etc a Python kernel needs (dynamic linker, library alternatives, time zone); nothing else.
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf", "mime.types")


@lru_cache(maxsize=1)
def _bwrap_status() -> tuple[str | None, str]:
    """(path of bwrap or None, reason when it cannot be used)."""
    if not sys.platform.startswith("linux"):
        return None, f"sandboxed grading needs Linux; this is {sys.platform}"
    exe = shutil.which("bwrap")
    if exe is None:
        return None, ("the 'bwrap' program (bubblewrap) is not installed; install it with "
                      "'sudo apt-get install bubblewrap' (Debian/Ubuntu) or 'dnf install bubblewrap'")
    try:
        probe = subprocess.run([exe, "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "true"],
                               capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"bwrap could not be started ({exc})"
    if probe.returncode != 0:
        return None, (f"bwrap cannot create namespaces here ({probe.stderr.strip()[:200]}); allow unprivileged "
                      "user namespaces (sysctl kernel.unprivileged_userns_clone=1 or, on Ubuntu 24.04, an "
                      "AppArmor profile for bwrap) or grade as root")
    return exe, ""


def sandbox_available() -> bool:
    """Whether submissions can be graded in the sealed sandbox on this machine."""
    return _bwrap_status()[0] is not None


def check_sandbox() -> str:
    """The path of ``bwrap``; raises :class:`MedaiInputError` saying how to fix it when it cannot be used."""
    exe, reason = _bwrap_status()
    if exe is None:
        raise MedaiInputError(f"cannot grade in a sandbox: {reason}. Grading without one lets a submission read "
                              "your files; pass --no-sandbox (sandbox=False) only for submissions you trust.")
    return exe


def _readonly_roots() -> list[str]:
    """The interpreter, its libraries and the course library: the read-only environment of the kernel."""
    import medai_lib

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(medai_lib.__file__).resolve().parent)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(sysconfig.get_paths()[key])
    roots.update(site.getsitepackages())
    exe = Path(sys.executable)
    roots.add(str(exe.parent))
    roots.add(str(exe.resolve().parent.parent))  # the real interpreter's prefix (a venv links to it)
    roots = sorted(str(Path(r).resolve()) for r in roots if r and Path(r).exists())
    # /usr is bound whole; drop roots inside another root.
    out: list[str] = []
    for r in roots:
        if r == "/" or r.startswith("/usr/") or r == "/usr":
            continue
        if not any(r == o or r.startswith(o.rstrip("/") + "/") for o in out):
            out.append(r)
    return out


def allowed_roots(kernel_dir: str | os.PathLike, runtime_dir: str | os.PathLike, data_dirs: list[str]) -> list[str]:
    """Every path the kernel can see (for the audit hook that flags attempts to reach anything else)."""
    roots = ["/usr", "/etc", "/proc", "/sys", "/dev", "/tmp", "/bin", "/lib", "/lib64", "/sbin",
             str(kernel_dir), str(runtime_dir), *data_dirs, *_readonly_roots()]
    return sorted(set(roots))


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin", "lib32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in _ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


@dataclass(frozen=True)
class SandboxSpec:
    """Where one submission's kernel lives: ``kernel_dir`` (the grader's folder holding the lab's files; the
    kernel sees them read-only at the same path, in a size-capped tmpfs it may write to), ``runtime_dir``
    (connection file, kernel sockets, matplotlib cache: read-write) and the sample-data folders it reads."""

    kernel_dir: Path
    runtime_dir: Path
    data_dirs: tuple = ()
    files_mb: int = FILES_MB


def bwrap_argv(spec: SandboxSpec, env: dict[str, str]) -> list[str]:
    """The ``bwrap`` command line (up to its ``--``) that seals a kernel as described in the module docstring.

    ``env`` is the kernel's whole environment: the grader's own variables (tokens, paths) never reach it.
    """
    exe = check_sandbox()
    size = str(int(spec.files_mb) << 20)
    # No --new-session: the kernel must stay in the process group the kernel manager interrupts (SIGINT at a
    # cell's time limit). It has no terminal to reach anyway (jupyter starts kernels in a new session).
    args = [exe, "--unshare-all", "--unshare-user", "--die-with-parent", "--disable-userns",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "grader",
            "--clearenv", *(x for k, v in sorted(env.items()) for x in ("--setenv", k, v)),
            *_system_binds(), "--proc", "/proc", "--dev", "/dev",
            "--size", size, "--tmpfs", "/tmp"]
    passwd = spec.runtime_dir / "passwd"
    group = spec.runtime_dir / "group"
    passwd.write_text(f"learner:x:{SANDBOX_UID}:{SANDBOX_UID}:learner:/tmp/home:/usr/sbin/nologin\n")
    group.write_text(f"learner:x:{SANDBOX_UID}:\n")
    args += ["--ro-bind", str(passwd), "/etc/passwd", "--ro-bind", str(group), "/etc/group"]
    for root in _readonly_roots():
        args += ["--ro-bind", root, root]
    for data in spec.data_dirs:
        args += ["--ro-bind-try", str(data), str(data)]
    args += ["--bind", str(spec.runtime_dir), str(spec.runtime_dir)]
    # The kernel's folder: a size-capped tmpfs holding the lab's files read-only; new files land in the tmpfs.
    args += ["--size", size, "--tmpfs", str(spec.kernel_dir)]
    for item in sorted(Path(spec.kernel_dir).iterdir()):
        args += ["--ro-bind", str(item), str(spec.kernel_dir / item.name)]
    args += ["--chdir", str(spec.kernel_dir), "--"]
    return args


# ------------------------------------------------------------------------------------------- process cap
def _pids_hierarchy() -> Path | None:
    """A writable cgroup folder with the ``pids`` controller (cgroup v1 or v2), or None."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        fields = line.split(" - ")
        if len(fields) != 2 or len(fields[1].split()) < 3:
            continue
        base = Path(fields[0].split()[4])
        fstype, _, options = fields[1].split()[:3]
        if fstype == "cgroup":
            has_pids = "pids" in options.split(",")
        elif fstype == "cgroup2":
            try:
                has_pids = "pids" in (base / "cgroup.subtree_control").read_text().split()
            except OSError:
                has_pids = False
        else:
            has_pids = False
        if has_pids and os.access(base, os.W_OK):
            return base
    return None


def process_cap_cgroup(name: str, limit: int = MAX_PROCESSES) -> Path | None:
    """A new pids cgroup capping ``limit`` processes, for a kernel started as the root user.

    A user namespace of a non-root grader counts processes itself (``RLIMIT_NPROC``, Linux 5.14 and later);
    processes of the root user are exempt from that limit, so a root grader needs a pids cgroup instead.
    Returns None where no writable pids controller exists (or when not root: the rlimit does the job)."""
    if os.geteuid() != 0:
        return None
    base = _pids_hierarchy()
    if base is None:
        return None
    folder = base / name
    try:
        folder.mkdir()
        (folder / "pids.max").write_text(str(int(limit)))
    except OSError:
        return None
    return folder


def remove_cgroup(folder: Path | None, wait_s: float = 5.0) -> bool:
    """Kill whatever is left in ``folder`` and remove it; True when it is gone."""
    import signal
    import time

    if folder is None or not folder.exists():
        return True
    deadline = time.monotonic() + wait_s
    while True:
        try:
            pids = [int(x) for x in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            folder.rmdir()
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def enter_cgroup_argv(folder: Path | None) -> list[str]:
    """A prefix that moves the starting process into ``folder`` before anything else runs (then execs)."""
    if folder is None:
        return []
    return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(folder)]
