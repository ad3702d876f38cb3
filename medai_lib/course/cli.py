"""The ``medai`` command: run notebooks, build/check/release labs, start/submit a lab, serve the course.

Errors are one line naming the problem and the fix, with a non-zero exit; ``--verbose`` shows tracebacks.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path

from medai_lib._version import __version__
from medai_lib.errors import MedaiError


def _print_result(res) -> None:
    mark = "ok  " if res.ok else "FAIL"
    extra = "" if res.ok else f"  -> {res.reason()}"
    print(f"  {mark} {res.notebook} ({res.seconds:.1f} s){extra}", flush=True)


def cmd_run(args) -> int:
    from medai_lib.course.runner import parse_parameter_value, run_notebooks

    params = {name: parse_parameter_value(value) for name, value in (args.parameters or [])}
    print(f"medai run: {len(args.paths)} path(s), quick={args.quick}, jobs={args.jobs}", flush=True)
    summary = run_notebooks(
        args.paths,
        quick=args.quick,
        device=args.device,
        jobs=args.jobs,
        timeout=args.timeout,
        out_dir=args.out,
        parameters=params,
        kernel_name=args.kernel,
        progress=_print_result,
    )
    print()
    print(summary.table())
    print(f"Executed notebooks are in {summary.out_dir} (outside the repository unless --out says otherwise: "
          "they may hold patient data).")
    if getattr(args, "report", False):
        from medai_lib.course.report import write_report

        path = write_report(summary)
        print(f"Report: {path}")
    if not summary.ok:
        for r in summary.results:
            if not r.ok:
                print(f"medai run: {r.notebook} failed: {r.reason()}", file=sys.stderr)
        return 1
    return 0


def cmd_report_merge(args) -> int:
    from medai_lib.course.report import merge_reports

    path = merge_reports(args.runs, args.out, title=args.title)
    print(f"Report: {path}")
    return 0


def cmd_course_build(args) -> int:
    from medai_lib.course.labs import build_labs, repo_root

    root = repo_root()
    for path in build_labs(root, args.labs or None):
        print(f"built {path.relative_to(root)}")
    return 0


def cmd_course_check(args) -> int:
    from medai_lib.course.labs import check_labs, repo_root

    root = repo_root()

    def show(rep):
        status = "ok" if rep.ok else "FAILED"
        print(f"{rep.lab}: {status}; {rep.points:g} points ({rep.autograded_points:g} autograded, "
              f"{rep.manual_points:g} manually graded)", flush=True)
        for note in rep.notes:
            print(f"    {note}")
        for problem in rep.problems:
            print(f"    problem: {problem}")

    reports = check_labs(root, args.labs or None, timeout=args.timeout, progress=show, jobs=args.jobs)
    bad = [r for r in reports if not r.ok]
    print(f"{len(reports) - len(bad)} of {len(reports)} labs pass the course check.")
    return 1 if bad else 0


def cmd_course_release(args) -> int:
    from medai_lib.course.labs import release_tree

    dest = release_tree(args.dest)
    print(f"learner tree written to {dest} (no solutions/, no hidden tests)")
    return 0


def cmd_lab_start(args) -> int:
    from medai_lib.course.labs import start_lab

    folder, copied, kept = start_lab(args.lab, work_dir=args.work)
    for name in copied:
        print(f"copied {name}")
    for name in kept:
        print(f"kept your existing {name} (not overwritten)")
    print(f"Your copy is in {folder}. Open it in JupyterLab; submit with `medai lab submit {args.lab}`.")
    return 0


def cmd_lab_submit(args) -> int:
    from medai_lib.course.labs import submit_lab, visible_test_failures

    if not args.no_check:
        print("Running your lab's visible tests first, in a fresh kernel from top to bottom (as the grader will)...",
              flush=True)
        failures = visible_test_failures(args.lab, work_dir=args.work)
        if failures:
            print(f"{len(failures)} test(s) in your notebook do not pass yet:")
            for gid, message in failures:
                print(f"  - {gid}: {message}")
            if not args.force:
                if sys.stdin.isatty():
                    answer = input("Submit anyway? [y/N] ")
                    insist = answer.strip().lower() in ("y", "yes")
                else:
                    insist = False
                if not insist:
                    print("Not submitted. Fix the tests above and submit again, or submit as it is with --force.")
                    return 1
            print("Submitting anyway, as you asked.")
        else:
            print("All visible tests pass (hidden tests are checked when your lab is graded).")
    for path in submit_lab(args.lab, work_dir=args.work, student=args.student):
        print(f"submitted {path}")
    print("Upload the file(s) above to your course page, or leave them for your instructor to collect.")
    return 0


def cmd_lab_list(args) -> int:
    from medai_lib.course.labs import list_labs, repo_root

    for lab in list_labs(repo_root(), kind="labs"):
        print(lab)
    return 0


def cmd_kernel_install(args) -> int:
    from medai_lib.course.kernel import install_kernel, write_lab_settings

    path = install_kernel(user=args.user)
    settings = write_lab_settings()
    if not args.quiet:
        print(f"installed kernel 'MedAI (Python 3)' in {path}")
        print(f"JupyterLab course settings in {settings}")
    return 0


def cmd_serve(args) -> int:
    from medai_lib.course.kernel import lab_command, write_lab_settings
    from medai_lib.course.labs import repo_root

    root = repo_root()
    write_lab_settings()
    cmd, env = lab_command(root, port=args.port, open_browser=not args.no_browser, token=args.token,
                           instructor=args.instructor)
    print("Starting JupyterLab on http://127.0.0.1 (token required; the link with the token is printed below).")
    if args.instructor:
        print("Instructor server: the whole checkout, nbgrader's tools (Formgrader, Create Assignment) and every kernel.")
    print("Stop it with Ctrl+C.", flush=True)
    try:
        return subprocess.call(cmd, env=env, cwd=root)
    except KeyboardInterrupt:
        return 0


def cmd_data_prepare(args) -> int:
    from medai_lib.data import data_home
    from medai_lib.course.sample_data import prepare_sample_data

    print(f"sample data cache: {data_home()} (the first preparation takes a few minutes; later ones are quick)",
          flush=True)
    prepare_sample_data(quick=args.quick, on_line=lambda line: print(f"  {line}", flush=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medai", description="MedAI course tools.")
    p.add_argument("--version", action="version", version=f"medai {__version__}")
    p.add_argument("--verbose", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser("run", help="execute notebooks headless (papermill) and summarise")
    r.add_argument("paths", nargs="+", help="notebooks or folders of notebooks")
    r.add_argument("--quick", action="store_true", help="inject QUICK=True: small sizes, every cell still runs")
    r.add_argument("--device", help="inject DEVICE (auto, cpu, cuda, cuda:N, mps)")
    r.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    r.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds (default 600)")
    r.add_argument("--out", help="output folder (default: ~/.cache/medai/runs/<time>, outside the repository)")
    r.add_argument("--kernel", help="kernel name instead of the notebook's own")
    r.add_argument("--report", action="store_true", help="also write an HTML report of the run")
    r.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="set a notebook parameter, e.g. -p DATA_DIR /data/psg (repeatable)")
    r.set_defaults(func=cmd_run)

    rp = sub.add_parser("report", help="course reports from notebook runs")
    rpsub = rp.add_subparsers(dest="report_command", metavar="ACTION")
    rpsub.required = True
    rm = rpsub.add_parser("merge", help="combine runs (their --out folders) into one HTML report")
    rm.add_argument("runs", nargs="+", metavar="RUN_DIR", help="folders written by `medai run --out`")
    rm.add_argument("--out", required=True, metavar="DIR", help="folder for report.html and merged.json")
    rm.add_argument("--title", default="Course report", help="page heading (default: Course report)")
    rm.set_defaults(func=cmd_report_merge)

    c = sub.add_parser("course", help="instructor tools: build, check and release labs")
    csub = c.add_subparsers(dest="course_command", metavar="ACTION")
    csub.required = True
    b = csub.add_parser("build", help="regenerate labs/ from solutions/ (nbgrader generate_assignment)")
    b.add_argument("labs", nargs="*")
    b.set_defaults(func=cmd_course_build)
    ch = csub.add_parser("check", help="verify every lab: fresh build, no leaks, solution full marks, release zero")
    ch.add_argument("labs", nargs="*")
    ch.add_argument("--timeout", type=int, default=300, help="per-cell timeout in seconds")
    ch.add_argument("--jobs", type=int, default=2, help="wrong answers executed at once (default 2)")
    ch.set_defaults(func=cmd_course_check)
    rel = csub.add_parser("release", help="write the learner tree (no solutions) to DIR")
    rel.add_argument("dest", metavar="DIR")
    rel.set_defaults(func=cmd_course_release)

    lab = sub.add_parser("lab", help="learner tools: start and submit a lab")
    lsub = lab.add_subparsers(dest="lab_command", metavar="ACTION")
    lsub.required = True
    ls = lsub.add_parser("start", help="copy a lab into work/ (never overwrites your files)")
    ls.add_argument("lab", help="e.g. lab00")
    ls.add_argument("--work", help="work folder (default: work/ in the course folder)")
    ls.set_defaults(func=cmd_lab_start)
    lsu = lsub.add_parser("submit", help="package your lab for grading")
    lsu.add_argument("lab", help="e.g. lab00")
    lsu.add_argument("--student", help="your student id (default: your login name)")
    lsu.add_argument("--work", help="work folder (default: work/ in the course folder)")
    lsu.add_argument("--force", action="store_true", help="submit even if visible tests do not pass")
    lsu.add_argument("--no-check", action="store_true", help="submit without running the visible tests first")
    lsu.set_defaults(func=cmd_lab_submit)
    ll = lsub.add_parser("list", help="list the labs")
    ll.set_defaults(func=cmd_lab_list)

    k = sub.add_parser("kernel", help="Jupyter kernel tools")
    ksub = k.add_subparsers(dest="kernel_command", metavar="ACTION")
    ksub.required = True
    ki = ksub.add_parser("install", help="register the 'MedAI (Python 3)' kernel for this environment")
    ki.add_argument("--user", action="store_true", help="install for the user instead of the environment")
    ki.add_argument("--quiet", action="store_true")
    ki.set_defaults(func=cmd_kernel_install)

    s = sub.add_parser("serve", help="start JupyterLab on localhost with a token, opened on the course index")
    s.add_argument("--port", type=int, default=8888)
    s.add_argument("--no-browser", action="store_true")
    s.add_argument("--token", help="use this token instead of a random one")
    s.add_argument("--instructor", action="store_true",
                   help="serve the whole checkout with nbgrader's instructor tools and every kernel")
    s.set_defaults(func=cmd_serve)

    from medai_lib.course import grading

    grading.add_parser(sub)

    from medai_lib.course import hub

    hub.add_parser(sub)

    d = sub.add_parser("data", help="sample data")
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True
    dp = dsub.add_parser("prepare", help="generate and cache every track's sample data")
    dp.add_argument("--quick", action="store_true", help="only the small quick-mode cohorts")
    dp.set_defaults(func=cmd_data_prepare)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return int(args.func(args) or 0)
    except (MedaiError, FileNotFoundError, PermissionError) as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"medai: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medai: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected failure: still one line unless --verbose
        if args.verbose:
            traceback.print_exc()
        print(f"medai: unexpected error: {type(exc).__name__}: {exc} (re-run with --verbose for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
