"""The course as a class on a real JupyterHub (loopback): one instructor and three learners as real Linux users.

The instructor builds lab00 with `medai course build` and releases it through nbgrader's exchange; learners
fetch it from their own servers' Assignments API, answer it (right, wrong, cheating) through the contents API,
submit (one of them twice); the instructor collects and grades with `medai grade`'s isolated grader
(`medai hub grade`) and releases feedback, which each learner fetches and reads: their own score, as the
grader computed it. Learners are refused everything of one another's (HTTP and files), limits are enforced
by the kernel, a learner's server killed mid-lab loses nothing, and every process, user, cgroup and folder
the test made is gone at the end (also on failure: the fixture's finalizer).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, hub_test_marks

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "grading"))
import cases  # noqa: E402

LAB = "lab00_clinical_values"
NB_PATH = f"{LAB}/{LAB}.ipynb"
PREFIX = "mdtest-"
MEM_LIMIT_MB = 768

pytestmark = hub_test_marks("the class-hub test")


def _cgroups():
    from medai_lib.course.hub_spawner import CgroupError, UserCgroups

    try:
        return UserCgroups()
    except CgroupError as exc:
        pytest.skip(f"no enforceable cgroups on this host: {exc}")


def _answers():
    rel, answers, _ = cases.load(ROOT, LAB)
    wrong = next(w for w in cases.wrong_answers(ROOT, LAB) if w["misconception"] == "height not squared")
    return answers, wrong


def _answer(nb: dict, kind: str) -> dict:
    """The fetched notebook answered right, wrong (BMI without squaring the height) or by cheating (tests
    replaced by a print of success, answers left empty)."""
    nb = nbformat.from_dict(nb)
    answers, wrong = _answers()
    if kind in ("right", "wrong"):
        nb = cases.solved(nb, answers)
    if kind == "wrong":
        cases.cell(nb, wrong["cell"]).source = wrong["code"]
    if kind == "cheat":
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
                cell.source = 'print("all tests passed")'
    return nb


PROBE = """
import json, os, sys
out = {}
for label, path in json.loads(sys.argv[1]).items():
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, 'rb').read(1)
        out[label] = 'allowed'
    except OSError as exc:
        out[label] = type(exc).__name__
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def cls():
    """The whole class loop, run once; the tests below assert on what it recorded."""
    from medai_lib.course.hub import ThrowawayHub

    cgroups = _cgroups()
    t0 = time.monotonic()
    hub = ThrowawayHub(learners=3, prefix=PREFIX, mem_limit=f"{MEM_LIMIT_MB}M", cpu_limit=0.5)
    # (its own folder under the system's temporary folder, 0755: pytest's folders are root's only)
    hub.settings.pids_limit = 128
    rec = {"hub": hub, "cgroups": cgroups, "clients": {}}
    try:
        hub.setup()
        hub.settings.write(Path(hub.settings.state_dir) / "hub-settings.json")
        hub.start()
        teach, learners = hub.instructor_names[0], hub.learner_names
        course = hub.settings.course_root
        # The instructor builds and releases lab00 from the course folder, as in a terminal on the hub.
        built = hub.as_user(teach, [str(hub.settings.bin_dir / "medai"), "course", "build", "lab00"], cwd=course)
        assert built.returncode == 0, built.stdout + built.stderr
        rel = hub.as_user(teach, [hub.settings.python, "-m", "nbgrader", "release_assignment", LAB], cwd=course)
        assert rel.returncode == 0, rel.stdout + rel.stderr
        print(f"hub up, lab built and released: {time.monotonic() - t0:.1f} s")

        with ThreadPoolExecutor(4) as pool:
            clients = dict(zip([teach, *learners], pool.map(hub.client, [teach, *learners])))
            rec["spawn_s"] = list(pool.map(lambda c: c.start(timeout=320), clients.values()))
        rec["clients"] = clients
        print(f"servers started ({rec['spawn_s']}): {time.monotonic() - t0:.1f} s")
        right, wrong, cheat = learners
        rec["kinds"] = {right: "right", wrong: "wrong", cheat: "cheat"}
        for name in learners:
            listed = clients[name].assignments()
            rec.setdefault("listed", {})[name] = [a["assignment_id"] for a in listed["value"]]
            clients[name].assignments("fetch", LAB)
        # The right learner first submits a wrong attempt, then the right one: the later attempt counts.
        fetched = clients[right].read(NB_PATH)["content"]
        clients[right].save_notebook(NB_PATH, _answer(fetched, "wrong"))
        clients[right].assignments("submit", LAB)
        time.sleep(1.1)  # nbgrader's timestamps have second resolution in the staged file names
        for name, kind in rec["kinds"].items():
            nb = clients[name].read(NB_PATH)["content"]
            clients[name].save_notebook(NB_PATH, _answer(nb if kind != "right" else fetched, kind))
            out = clients[name].assignments("submit", LAB)
            assert isinstance(out, dict) and out.get("success"), out
        inbound = Path(hub.settings.exchange_root) / "medai" / "inbound"
        rec["inbound"] = sorted(p.name for p in inbound.iterdir())

        graded = hub.as_user(teach, [str(hub.settings.bin_dir / "medai"), "hub", "grade", "lab00", "--jobs", "2"],
                             cwd=course, timeout=240)
        rec["grade_out"] = graded.stdout + graded.stderr
        print(f"graded: {time.monotonic() - t0:.1f} s")
        assert graded.returncode == 0, rec["grade_out"]
        import pandas as pd

        rec["grades"] = pd.read_csv(Path(course) / "autograded" / f"{LAB}-grading" / "grades.csv").set_index("student_id")
        for name in learners:
            clients[name].assignments("fetch_feedback", LAB)
            folder = clients[name].read(f"{LAB}/feedback")["content"]
            page = clients[name].read(f"{folder[0]['path']}/{LAB}.html")["content"]
            rec.setdefault("feedback", {})[name] = page
        rec["seconds"] = time.monotonic() - t0
        yield rec
    except BaseException:
        print(hub.log_tail(60))
        raise
    finally:
        hub.stop()


def test_learners_see_the_released_lab(cls):
    for name, listed in cls["listed"].items():
        assert LAB in listed, (name, listed)


def test_every_submission_reaches_the_exchange(cls):
    """Four submissions (one learner twice) are all kept in the inbound folder: nothing is lost."""
    names = cls["inbound"]
    assert len(names) == 4, names
    right = next(n for n, k in cls["kinds"].items() if k == "right")
    assert sum(n.startswith(f"{right}+{LAB}+") for n in names) == 2


def test_grades_follow_the_answers(cls):
    """Scores from `medai grade`: the right answer full marks, the wrong BMI loses exactly the BMI tests'
    points, the cheat (tests replaced by prints, no answers) nothing; the reference is the lab's own metadata
    (points of each test cell) and wrong_answers.yml (which tests the misconception loses)."""
    rel = nbformat.read(ROOT / "labs" / LAB / f"{LAB}.ipynb", as_version=4)
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in rel.cells
              if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    full = sum(points.values())
    _, wrong = _answers()
    g = cls["grades"]
    by_kind = {k: n for n, k in cls["kinds"].items()}
    score_col = "score"
    assert g.loc[by_kind["right"], score_col] == pytest.approx(full)
    assert g.loc[by_kind["wrong"], score_col] == pytest.approx(full - sum(points[t] for t in wrong["loses"]))
    assert g.loc[by_kind["cheat"], score_col] == 0
    assert len(g) == 3  # one row per learner: the duplicate submission is graded once (the later attempt)


def test_each_learner_reads_their_own_score(cls):
    g = cls["grades"]
    score_col = "score"
    for name, page in cls["feedback"].items():
        m = re.search(r"Automatically graded: <b>([0-9.]+) of ([0-9.]+)</b>", page)
        assert m, page[:500]
        assert float(m.group(1)) == pytest.approx(g.loc[name, score_col]), name


def test_learners_cannot_reach_each_other_over_http(cls):
    clients = cls["clients"]
    teach, (a, b, _) = cls["hub"].instructor_names[0], cls["hub"].learner_names
    ca = clients[a]
    assert ca.request("GET", f"/user/{b}/api/contents").status_code == 403
    assert ca.request("POST", f"/user/{b}/api/kernels", json={"name": "medai"}).status_code == 403
    assert ca.request("GET", f"/user/{b}/api/contents/{NB_PATH}").status_code == 403
    assert ca.request("GET", f"/hub/api/users/{b}").status_code == 404
    assert ca.request("POST", f"/hub/api/users/{b}/server").status_code in (403, 404)
    assert ca.request("GET", f"/user/{teach}/formgrader/api/assignments").status_code == 403
    # Learners have no formgrader; the instructor has (it lists the released lab), and sees the learners
    # but cannot open their servers.
    assert ca.request("GET", f"/user/{a}/formgrader/api/assignments").status_code == 404
    ct = clients[teach]
    r = ct.request("GET", f"/user/{teach}/formgrader/api/assignments")
    assert r.status_code == 200 and LAB in r.text, (r.status_code, r.text[:300])
    users = ct.request("GET", "/hub/api/users").json()
    assert {a, b} <= {u["name"] for u in users}
    assert ct.request("GET", f"/user/{a}/api/contents").status_code == 403


def test_learners_cannot_read_each_others_files(cls):
    hub = cls["hub"]
    a, b, _ = hub.learner_names
    import pwd

    exchange = Path(hub.settings.exchange_root) / "medai"
    targets = {
        "other home": pwd.getpwnam(b).pw_dir,
        "other notebook": f"{pwd.getpwnam(b).pw_dir}/{NB_PATH}",
        "inbound listing": str(exchange / "inbound"),
        "feedback listing": str(exchange / "feedback"),
        "course folder (solutions, gradebook)": hub.settings.course_root,
        "collected submission": f"{hub.settings.course_root}/submitted/{b}/{LAB}/{LAB}.ipynb",
        "own notebook": f"{pwd.getpwnam(a).pw_dir}/{NB_PATH}",
        "released lab": str(exchange / "outbound" / LAB / f"{LAB}.ipynb"),
    }
    res = hub.as_user(a, [hub.settings.python, "-c", PROBE, json.dumps(targets)], timeout=60)
    assert res.returncode == 0, res.stderr
    seen = json.loads(res.stdout.strip().splitlines()[-1])
    for label in targets:
        expected = "allowed" if label in ("own notebook", "released lab") else "PermissionError"
        assert seen[label] == expected, (label, seen)
    assert oct(os.stat(pwd.getpwnam(b).pw_dir).st_mode & 0o777) == "0o700"


def test_memory_cpu_and_process_limits_are_enforced(cls):
    """The learner's kernel runs in their cgroup: asking for more memory than the limit kills that kernel
    (the server and the saved notebook survive), a busy loop is throttled to the CPU quota, and process
    creation stops at the pids limit."""
    hub, cg = cls["hub"], cls["cgroups"]
    name = hub.learner_names[1]
    c = cls["clients"][name]
    assert cg.memory_limit(name) == MEM_LIMIT_MB << 20
    out, err = c.run_code("import os; print(open('/proc/self/cgroup').read())", timeout=90)
    assert f"medai-hub/{name}" in out, out
    before = cg.oom_kills(name)
    out, err = c.run_code(f"x = b'x' * ({MEM_LIMIT_MB + 256} << 20)\nprint('allocated')", timeout=90,
                          kernel_id=c._last_kernel)
    assert "allocated" not in out and err in ("KernelDied", "MemoryError"), (out, err)
    assert cg.oom_kills(name) > before
    assert c.request("GET", f"{c.server()}/api/status").status_code == 200
    assert c.read(NB_PATH)["content"]["cells"]
    # CPU: one busy second; the cgroup's own accounting shows the quota at work.
    out, err = c.run_code("import time\nt = time.process_time() + 1.0\nwhile time.process_time() < t: pass\nprint('done')",
                          timeout=90)
    assert "done" in out, (out, err)
    if cg.version == 1:
        stat = (cg.user_dirs(name)["cpu"] / "cpu.stat").read_text()
    else:
        stat = (cg.user_dirs(name)[""] / "cpu.stat").read_text()
    throttled = int(re.search(r"nr_throttled (\d+)", stat).group(1))
    assert throttled > 0, stat
    out, err = c.run_code(
        "import subprocess\nps = []\ntry:\n    for _ in range(400):\n        ps.append(subprocess.Popen(['sleep', '30']))\n"
        "except OSError as e:\n    print('stopped at', len(ps), type(e).__name__)\nfor p in ps:\n    p.kill(); p.wait()",
        timeout=120)
    m = re.search(r"stopped at (\d+)", out)
    assert m and int(m.group(1)) < hub.settings.pids_limit, (out, err)


def test_server_killed_mid_lab_loses_nothing_and_course_copy_keeps_edits(cls):
    """The learner edits a course notebook and their lab, then their server dies (SIGKILL); the hub notices,
    the next start copies only what is missing, and both edits are still there."""
    hub, cg = cls["hub"], cls["cgroups"]
    name = hub.learner_names[2]
    c = cls["clients"][name]
    course_nb = next(p for p in Path(hub.settings.course_notebooks).rglob("*.ipynb")
                     if ".ipynb_checkpoints" not in p.parts)
    rel_path = f"medai-course/{course_nb.relative_to(hub.settings.course_notebooks)}"
    nb = c.read(rel_path)["content"]
    nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": "my own note"})
    c.save_notebook(rel_path, nb)
    import pwd

    home = Path(pwd.getpwnam(name).pw_dir)
    (home / "medai-course" / "README.md").unlink(missing_ok=True)  # a file the learner deleted comes back
    for pid in cg.pids(name):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        srv = (c.request("GET", f"/hub/api/users/{name}").json().get("servers") or {}).get("")
        if not srv:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the hub did not notice the dead server within 60 s")
    c.start(timeout=320)
    again = c.read(rel_path)["content"]
    assert again["cells"][0]["source"] == "my own note"
    assert (home / "medai-course" / "README.md").exists() == (Path(hub.settings.course_notebooks) / "README.md").exists()
    lab = c.read(NB_PATH)["content"]
    assert any("all tests passed" in "".join(cell["source"]) for cell in lab["cells"])


def test_hub_restart_keeps_running_servers_and_kernels(cls):
    """Restarting the hub (to change the roster, say) while a learner works: their server and kernel keep
    running, and the restarted hub routes to them again."""
    hub, cg = cls["hub"], cls["cgroups"]
    name = hub.learner_names[0]
    c = cls["clients"][name]
    out, err = c.run_code("state_before_restart = 41\nimport os\nprint(os.getpid())", timeout=120)
    kernel_pid, kernel_id = int(out.strip()), c._last_kernel
    server_pids = set(cg.pids(name))
    old_hub = hub.proc.pid
    hub.restart()
    assert hub.proc.pid != old_hub
    assert kernel_pid in cg.pids(name) and server_pids <= set(cg.pids(name))
    out, err = c.run_code("print(state_before_restart + 1)", timeout=120, kernel_id=kernel_id)
    assert out.strip() == "42", (out, err)
    assert c.request("GET", f"/hub/api/users/{name}").json()["servers"][""]["ready"]


def _zombie(proc: Path) -> bool:
    try:
        return "\nState:\tZ" in (proc / "status").read_text()
    except OSError:
        return True  # gone meanwhile


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _uid(proc: Path):
    try:
        return proc.stat().st_uid
    except FileNotFoundError:
        return None


def test_everything_removed_at_the_end(cls):
    import pwd

    hub, cg = cls["hub"], cls["cgroups"]
    names = hub.instructor_names + hub.learner_names
    uids = {pwd.getpwnam(n).pw_uid for n in names}
    hub.stop()
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _uid(p) in uids and not _zombie(p)]
    assert not left, [(p.name, _cmdline(p)) for p in left]
    for name in names:
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
        assert not any(d.exists() for d in cg.user_dirs(name).values()), name
    assert not hub.work.exists()
    assert not [p for p in Path("/home").iterdir() if p.name.startswith(PREFIX)]
    assert hub.proc.poll() is not None


def test_demo_command_prints_accounts_once_and_removes_them_on_ctrl_c():
    """`medai hub demo --learners 2`: a hub on 127.0.0.1 with generated passwords that work (PAM login), no
    default password, and Ctrl-C removes every account and folder it made."""
    import pwd
    import subprocess

    from medai_lib.course.hub import HubClient, free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "medai_lib.course.cli", "hub", "demo", "--learners", "2",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=ROOT)
    lines, accounts = [], {}
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.match(r"\s+(instructor|learner)\s+(\S+)\s+(\S+)$", line)
            if m:
                accounts[m.group(2)] = m.group(3)
            if line.startswith("Instructor:"):
                break
        assert len(accounts) == 3, "".join(lines)
        assert len(set(accounts.values())) == 3 and all(len(p) >= 12 for p in accounts.values())
        name = next(n for n in accounts if "teach" not in n)
        HubClient(f"http://127.0.0.1:{port}", name, accounts[name])  # the printed password logs in
        with pytest.raises(Exception, match="login"):
            HubClient(f"http://127.0.0.1:{port}", name, "password")
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(120)
    assert proc.returncode == 0, "".join(lines) + rest
    assert "removed" in rest
    for n in accounts:
        with pytest.raises(KeyError):
            pwd.getpwnam(n)


def test_full_exchange_loses_nothing_and_grades_the_previous_submission(tmp_path_factory):
    """The exchange's disk fills while a learner submits: nbgrader's submit fails with the disk's error, the
    learner's notebook in their home is intact, and `medai hub grade`'s first step sets the half-written
    submission aside so that collect takes the learner's previous complete one (nothing deleted)."""
    import pwd
    import subprocess
    import tempfile

    from medai_lib.course.hub import (
        create_user, delete_user, ensure_exchange, interpreter_launcher, set_aside_incomplete,
    )

    work = Path(tempfile.mkdtemp(prefix="medai-hubfull-"))
    work.chmod(0o755)
    exchange = work / "exchange"
    exchange.mkdir()
    teach, learner = f"{PREFIX}fxi", f"{PREFIX}fxa"
    mounted = False
    try:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=1777", "tmpfs", str(exchange)]).returncode:
            pytest.skip("cannot mount a small tmpfs to fill (not allowed in this container)")
        mounted = True
        for name in (teach, learner):
            create_user(name)
        tpw, lpw = pwd.getpwnam(teach), pwd.getpwnam(learner)
        course = work / "course"
        (course / "labs").mkdir(parents=True)
        shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
        shutil.copytree(ROOT / "labs" / LAB, course / "labs" / LAB)
        for p in [course, *course.rglob("*")]:
            os.chown(p, tpw.pw_uid, tpw.pw_gid)
        ensure_exchange(exchange, owner=teach)
        cfg = work / "cfg"
        cfg.mkdir()
        (cfg / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n"
                                                "c.CourseDirectory.course_id = 'medai'\n")
        cfg.chmod(0o755)
        (cfg / "nbgrader_config.py").chmod(0o644)

        def run(user, *args, cwd=None):
            pw = pwd.getpwnam(user)
            launch = interpreter_launcher(sys.executable, work / "interpreter")
            return subprocess.run([*launch, "runuser", "-u", user, "--", "env", "-i", f"--chdir={cwd or pw.pw_dir}",
                                   f"HOME={pw.pw_dir}", f"USER={user}", f"JUPYTER_CONFIG_PATH={cfg}",
                                   f"PATH={Path(sys.executable).parent}:/usr/bin:/bin", sys.executable, "-m",
                                   "nbgrader", *args], capture_output=True, text=True, timeout=300)

        assert run(teach, "release_assignment", LAB, cwd=str(course)).returncode == 0
        assert run(learner, "fetch_assignment", LAB).returncode == 0
        first = run(learner, "submit", LAB)
        assert first.returncode == 0, first.stderr
        # The learner's notebook grows past the exchange's free space (a big figure output), then submit.
        nb_path = Path(lpw.pw_dir) / LAB / f"{LAB}.ipynb"
        nb = nbformat.read(nb_path, as_version=4)
        next(c for c in nb.cells if c.cell_type == "code").outputs = [
            nbformat.v4.new_output("stream", name="stdout", text="x" * (1 << 20))]
        nbformat.write(nb, nb_path)
        before = nb_path.read_bytes()
        time.sleep(1.1)
        second = run(learner, "submit", LAB)
        assert second.returncode != 0
        assert "No space left on device" in second.stdout + second.stderr
        assert nb_path.read_bytes() == before  # the learner's work is untouched
        inbound = exchange / "medai" / "inbound"
        assert len(list(inbound.glob(f"{learner}+{LAB}+*"))) == 2
        aside = set_aside_incomplete(exchange, LAB)
        assert len(aside) == 1 and not (inbound / aside[0]).exists() and (inbound / f".incomplete-{aside[0]}").exists()
        collected = run(teach, "collect", LAB, cwd=str(course))
        assert collected.returncode == 0, collected.stderr
        got = course / "submitted" / learner / LAB
        assert (got / "timestamp.txt").read_text().strip() == first_timestamp(inbound, learner, aside)
        nbformat.read(got / f"{LAB}.ipynb", as_version=4)  # complete and readable
    finally:
        for name in (teach, learner):
            delete_user(name, prefix=PREFIX)
        if mounted:
            subprocess.run(["umount", "-l", str(exchange)])
        shutil.rmtree(work, ignore_errors=True)


def first_timestamp(inbound: Path, learner: str, aside: list[str]) -> str:
    """The timestamp of the learner's complete submission (the one not set aside)."""
    kept = [p for p in inbound.glob(f"{learner}+{LAB}+*") if p.name not in aside]
    assert len(kept) == 1, kept
    return (kept[0] / "timestamp.txt").read_text().strip()
