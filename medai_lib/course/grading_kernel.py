"""Kernel launcher for grading, run inside the sandbox (:mod:`medai_lib.course.grading_sandbox`): limits the
learner's kernel (memory, CPU time, file size, processes), installs an audit hook that reports what the
submission tried to reach outside its sandbox, then runs the usual IPython kernel in this process.

Run as ``python -m medai_lib.course.grading_kernel --memory-mb M --cpu-s S [--nproc N] [--audit FIFO
--allow DIR ...] -- ARGS``; ``ARGS`` go to the IPython kernel (e.g. ``-f {connection_file}``).

The audit hook (:pep:`578`) cannot be removed once installed. It stays quiet until the grader's first
cell raises the ``medai.arm`` audit event (so the kernel's own start-up is not reported), then writes one
line per attempt to the grader's FIFO: starting a process, opening a network connection, listing the root
folder, or opening or listing a path the sandbox does not contain (the grader's home, another course...).
The sandbox already makes those attempts fail; the hook makes them visible to the instructor.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys

MAX_EVENTS = 50


def set_limits(memory_mb: int, cpu_s: int, file_mb: int = 256, nproc: int = 0) -> None:
    """Address-space, CPU-time, file-size and process-count limits for this process and all it starts.

    The process count is per user namespace (Linux 5.14 and later), so it caps this submission alone."""
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu_s > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    if file_mb > 0:
        limit = file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    if nproc > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def make_audit_hook(allowed: list[str], write):
    """The audit hook: ``write(line)`` is called with a JSON line per attempt once armed."""
    allowed = tuple(sorted({os.path.normpath(a) for a in allowed}))
    state = {"armed": False, "count": 0, "busy": False}

    def inside(path: str) -> bool:
        return any(path == a or path.startswith(a.rstrip("/") + "/") for a in allowed)

    def report(kind: str, detail: str) -> None:
        if state["count"] >= MAX_EVENTS:
            return
        state["count"] += 1
        try:
            write(json.dumps({"kind": kind, "detail": detail[:300]}) + "\n")
        except Exception:  # the channel was closed by the submission: nothing more can be reported
            pass

    def path_of(arg) -> str | None:
        if isinstance(arg, int) or arg is None:
            return None
        try:
            text = os.fsdecode(arg)
        except TypeError:
            return None
        return os.path.normpath(os.path.join(os.getcwd(), os.path.expanduser(text)))

    def hook(event: str, args) -> None:
        if event == "medai.arm":
            state["armed"] = True
            return
        if not state["armed"] or state["busy"]:
            return
        state["busy"] = True
        try:
            if event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn"):
                cmd = args[1] if event == "subprocess.Popen" else args[0]
                report("process", f"started a process: {cmd!r}")
            elif event in ("os.fork", "os.forkpty"):
                report("process", "forked a process")
            elif event == "socket.connect" or event == "socket.sendto":
                report("network", f"tried to open a network connection to {args[1]!r}")
            elif event in ("open", "os.listdir", "os.scandir", "glob.glob", "os.chdir"):
                path = path_of(args[0])
                if path is None:
                    return
                if event == "glob.glob":  # the part before the first wildcard is the folder searched
                    head = path.split("*")[0].split("?")[0].split("[")[0]
                    path = os.path.normpath(head or "/")
                if event in ("os.listdir", "os.scandir", "glob.glob") and path == "/":
                    report("listing", "listed the root folder '/'")
                elif not inside(path):
                    report("path", f"tried to reach '{path}', outside its sandbox")
        finally:
            state["busy"] = False

    return hook


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser(prog="medai-grading-kernel")
    p.add_argument("--memory-mb", type=int, default=0)
    p.add_argument("--cpu-s", type=int, default=0)
    p.add_argument("--file-mb", type=int, default=256)
    p.add_argument("--nproc", type=int, default=0)
    p.add_argument("--audit")
    p.add_argument("--allow", action="append", default=[])
    args = p.parse_args(argv[:split])
    if args.audit:
        fd = os.open(args.audit, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.set_blocking(fd, True)

        def write(line: str, _fd=fd) -> None:
            os.write(_fd, line.encode())

        sys.addaudithook(make_audit_hook(args.allow, write))
    set_limits(args.memory_mb, args.cpu_s, args.file_mb, args.nproc)
    sys.argv = [sys.argv[0], *argv[split + 1:]]
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
