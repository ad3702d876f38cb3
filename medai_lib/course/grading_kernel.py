"""Kernel launcher for grading: limits the learner's kernel (memory, CPU, file size), hides the instructor's
files in a private mount namespace where the platform allows it, then starts the usual IPython kernel.

Run as ``python -m medai_lib.course.grading_kernel --memory-mb M --cpu-s S [--hide P ...] [--keep D] -- ARGS``;
``ARGS`` go to ``ipykernel_launcher`` (e.g. ``-f {connection_file}``).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys


_MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> bool:
    """mount(2) through libc: no helper process per mount (a kernel start stays fast)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    enc = (lambda v: v.encode() if v is not None else None)
    return libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) == 0


def hide_paths(hide: list[str], keep: str | None) -> list[str]:
    """Cover each path in ``hide`` with an empty read-only tmpfs (folders) or /dev/null (files); ``keep``, a
    folder below a hidden one, stays visible at its own path. Returns the paths that could not be hidden."""
    failed: list[str] = []
    if not hide:
        return failed
    cwd = os.getcwd()
    keep_fd = os.open(keep, os.O_RDONLY | os.O_DIRECTORY) if keep else None
    if not _mount(None, "/", None, _MS_REC | _MS_PRIVATE):
        return list(hide)
    for path in hide:
        if os.path.isdir(path):
            ok = _mount("medai-hidden", path, "tmpfs", 0, "size=64k,mode=755")
        elif os.path.exists(path):
            ok = _mount("/dev/null", path, None, _MS_BIND)
        else:
            continue
        if not ok:
            failed.append(path)
    if keep and keep_fd is not None:
        # The kernel's own folder may sit under a hidden one: bind it back from the descriptor opened above.
        if not os.path.isdir(keep):
            os.makedirs(keep, exist_ok=True)
        # The mount(8) tool would resolve /proc/self/fd/N to a (now covered) path; the system call follows
        # the descriptor to the original folder.
        if not _mount(f"/proc/self/fd/{keep_fd}", keep, None, _MS_BIND):
            failed.append(keep)
        os.close(keep_fd)
    try:
        os.chdir(cwd)
    except OSError:
        failed.append(cwd)
    for path in hide:
        if os.path.isdir(path) and path not in failed and not (keep and keep.startswith(path.rstrip("/") + "/")):
            _mount(None, path, None, _MS_REMOUNT | _MS_RDONLY)
    return failed


def set_limits(memory_mb: int, cpu_s: int, file_mb: int = 512) -> None:
    """Address-space, CPU-time and file-size limits for this process and everything it starts."""
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu_s > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    if file_mb > 0:
        limit = file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser(prog="medai-grading-kernel")
    p.add_argument("--memory-mb", type=int, default=0)
    p.add_argument("--cpu-s", type=int, default=0)
    p.add_argument("--hide", action="append", default=[])
    p.add_argument("--keep")
    args = p.parse_args(argv[:split])
    failed = hide_paths(args.hide, args.keep) if args.hide else []
    os.environ["MEDAI_GRADING_UNHIDDEN"] = os.pathsep.join(failed)
    set_limits(args.memory_mb, args.cpu_s)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv[split + 1:]])


if __name__ == "__main__":
    main()
