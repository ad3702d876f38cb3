"""The course as a class on JupyterHub: configuration, roster, homes, nbgrader's exchange, grading loop, demo.

One server (a hospital VM): JupyterHub 5 with configurable-http-proxy (npm, ``make hub-deps``), learners and
instructors as real Linux users (PAM), each learner's server in its own enforced cgroup
(:mod:`medai_lib.course.hub_spawner`), course notebooks copied into each home at spawn (never overwriting a
learner's file), jupyterhub-idle-culler as a hub service, and nbgrader's exchange in a shared folder.

Roles (JupyterHub 5 RBAC): every user has the default ``user`` role (scope ``self``: their own server only);
the ``instructors`` group also reads the learners' activity (to see who is working); admins are separate
accounts and are never learners. Formgrader runs in instructors' servers only (disabled for learners).

Entry points: :func:`configure` (called by deploy/jupyterhub_config.py), ``medai hub demo``,
``medai hub grade`` (collect, grade with ``medai grade``'s isolated grader, release feedback),
``medai hub check-roster``.
"""
from __future__ import annotations

import csv
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from medai_lib.errors import MedaiInputError

COURSE_ID = "medai"
COURSE_FOLDER = "medai-course"  # where the course notebooks land in each learner's home
#: In each instructor's home, a link to the shared course folder: formgrader works only on a course folder
#: inside the Jupyter server's root (the home), and nbgrader's CourseDirectory.root points here.
INSTRUCTOR_LINK = "medai-instructor"
#: Linux login names the hub accepts: lower-case letters, digits, '.', '-'; starts with a letter. These
#: survive useradd, nbgrader's exchange file names and `medai grade`'s <lab>_<student>_attempt_ naming.
USERNAME_RE = re.compile(r"^[a-z][a-z0-9.-]{0,30}[a-z0-9]$")
RESERVED = {"root", "admin", "nobody", "daemon", "bin", "sys", "sync", "games", "man", "mail", "www-data",
            "jupyterhub", "hub", "instructors", "learners"}
LEARNER_EXTENSIONS_OFF = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")
LAB_EXTENSIONS_OFF = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                      "@jupyter/nbgrader:course-list")


# --------------------------------------------------------------------------------------------- roster
def check_username(name: str, *, where: str = "") -> str:
    """Return ``name`` if the hub can use it as a Linux login and nbgrader student id, else a clear error."""
    if not isinstance(name, str) or not USERNAME_RE.match(name) or ".." in name:
        raise MedaiInputError(
            f"{where}user name {name!r} cannot be used: names are 2-32 characters of lower-case letters, digits, "
            "'.' and '-', starting with a letter (e.g. 'anna.meyer' or 'ameyer2'); rename it in the roster.")
    if name in RESERVED:
        raise MedaiInputError(f"{where}user name {name!r} is reserved by the system or the hub; choose another.")
    return name


def read_roster(path: str | os.PathLike) -> dict[str, list[str]]:
    """A roster CSV with columns ``username`` and ``role`` (``instructor`` or ``learner``).

    Returns ``{"instructors": [...], "learners": [...]}``; every problem (odd name, duplicate, unknown role,
    a person in both roles) is reported with its line number.
    """
    path = Path(path)
    if not path.is_file():
        raise MedaiInputError(f"roster '{path}' not found; write a CSV with columns username,role.")
    roles = {"instructor": [], "learner": []}
    seen: dict[str, int] = {}
    problems = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"username", "role"} <= {f.strip().lower() for f in reader.fieldnames}:
            raise MedaiInputError(f"roster '{path}' needs the columns username,role (found {reader.fieldnames}).")
        for n, row in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
            name, role = row.get("username", ""), row.get("role", "").lower()
            try:
                check_username(name)
            except MedaiInputError as exc:
                problems.append(f"line {n}: {exc}")
                continue
            if role not in roles:
                problems.append(f"line {n}: role {role!r} of {name!r} is neither 'instructor' nor 'learner'")
                continue
            if name in seen:
                problems.append(f"line {n}: {name!r} is listed again (first on line {seen[name]})")
                continue
            seen[name] = n
            roles[role].append(name)
    if problems:
        raise MedaiInputError(f"roster '{path}' has {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    if not roles["instructor"]:
        raise MedaiInputError(f"roster '{path}' lists no instructor; add a row '<name>,instructor'.")
    return {"instructors": roles["instructor"], "learners": roles["learner"]}


# --------------------------------------------------------------------------------------------- settings
@dataclass
class HubSettings:
    """Everything a class hub needs; deploy/jupyterhub_config.py reads it from a JSON file."""

    state_dir: str                      # hub database, cookie secret, role configs (root only)
    course_root: str                    # instructors' course folder (nbgrader root: solutions/, labs/)
    course_notebooks: str               # folder copied into each learner's home as ~/medai-course
    exchange_root: str                  # nbgrader's exchange, shared by all users
    instructors: list = field(default_factory=list)
    learners: list = field(default_factory=list)
    admins: list = field(default_factory=list)
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    proxy_command: str = ""             # node_modules/.bin/configurable-http-proxy of the project
    mem_limit: str = "2G"
    cpu_limit: float = 1.0
    pids_limit: int = 256
    cull_timeout: int = 3600            # seconds idle before a server is stopped
    cull_every: int = 300
    spawn_timeout: int = 300           # seconds a server may take to start (a class logging in at 9:00 at once)
    gpu_count: int = 0                  # GPUs on this server offered through the GPU profile
    kernels_per_gpu: int = 2
    gpu_mem_limit: str = "6G"           # host memory limit of a GPU-profile server
    cleanup_servers: bool = False       # demo: True (stop servers with the hub); a class: False (survive restarts)
    ssl_cert: str = ""
    ssl_key: str = ""
    python: str = sys.executable        # the course environment's interpreter (single-user environment)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "HubSettings":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise MedaiInputError(f"hub settings '{path}' cannot be read ({exc}); see deploy/hub-settings.example.json.") from exc
        unknown = set(data) - set(cls.__dataclass_fields__) - {"roster", "comment"}
        if unknown:
            raise MedaiInputError(f"hub settings '{path}': unknown key(s) {sorted(unknown)}.")
        roster = data.pop("roster", None)
        data.pop("comment", None)
        if roster:
            people = read_roster(Path(path).parent / roster)
            data.setdefault("instructors", people["instructors"])
            data.setdefault("learners", people["learners"])
        s = cls(**data)
        s.validate()
        return s

    def write(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=1))
        path.chmod(0o600)
        return path

    def validate(self) -> None:
        for who in (*self.instructors, *self.learners, *self.admins):
            check_username(who, where="hub settings: ")
        both = set(self.instructors) & set(self.learners)
        if both:
            raise MedaiInputError(f"hub settings: {sorted(both)} are both instructor and learner; keep one role.")
        if set(self.admins) & set(self.learners):
            raise MedaiInputError("hub settings: admins must not be learners (an admin can open every server).")
        if not Path(self.proxy_command or "").is_file():
            raise MedaiInputError(f"configurable-http-proxy not found at '{self.proxy_command}'; run `make hub-deps` "
                                  "(npm ci in the course folder).")

    @property
    def bin_dir(self) -> Path:
        return Path(self.python).parent


def default_proxy_command(root: Path | None = None) -> str:
    """The project's own configurable-http-proxy (installed by ``make hub-deps``)."""
    root = root or Path(__file__).resolve().parents[2]
    return str(root / "node_modules" / ".bin" / "configurable-http-proxy")


# --------------------------------------------------------------------------------------------- role configs
def write_role_configs(s: HubSettings) -> dict[str, Path]:
    """Jupyter config folders for learners and instructors (put first on JUPYTER_CONFIG_PATH by the spawner).

    Learners: nbgrader's exchange and course id, formgrader and course list off. Instructors: the same plus
    the course root, so formgrader and ``nbgrader collect`` work on the instructors' course folder."""
    out = {}
    for role in ("learner", "instructor"):
        d = Path(s.state_dir) / "jupyter-config" / role
        (d / "labconfig").mkdir(parents=True, exist_ok=True)
        lines = [f"c.Exchange.root = {s.exchange_root!r}", f"c.CourseDirectory.course_id = {COURSE_ID!r}"]
        server = {"ServerApp": {"jpserver_extensions": {}}}
        page = {"disabledExtensions": {}}
        if role == "instructor":
            lines.insert(0, "import os")
            lines.append(f"c.CourseDirectory.root = os.path.expanduser('~/{INSTRUCTOR_LINK}')  # -> {s.course_root}")
        else:
            server["ServerApp"]["jpserver_extensions"] = {ext: False for ext in LEARNER_EXTENSIONS_OFF}
            page["disabledExtensions"] = {ext: True for ext in LAB_EXTENSIONS_OFF}
        (d / "nbgrader_config.py").write_text("c = get_config()  # noqa: F821\n" + "\n".join(lines) + "\n")
        (d / "jupyter_server_config.json").write_text(json.dumps(server, indent=1))
        (d / "labconfig" / "page_config.json").write_text(json.dumps(page, indent=1))
        for p in (d, d / "labconfig"):
            p.chmod(0o755)
        for p in d.rglob("*"):
            if p.is_file():
                p.chmod(0o644)
        out[role] = d
    Path(s.state_dir, "jupyter-config").chmod(0o755)
    return out


# --------------------------------------------------------------------------------------------- exchange
def ensure_exchange(root: str | os.PathLike, owner: str | None = None) -> Path:
    """nbgrader's exchange: ``root`` writable by everyone with the sticky bit (no one removes another's
    files), and the course folder ``root/medai`` created for (and owned by) the instructor, so no learner
    can claim it first. nbgrader itself makes inbound/ (0733 + setgid: learners write, cannot list),
    outbound/ (0755) and feedback/ (0711: files named by a hash of each submission's secret)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o1777)
    course = root / COURSE_ID
    course.mkdir(exist_ok=True)
    course.chmod(0o755)
    if owner:
        pw = pwd.getpwnam(owner)
        os.chown(course, pw.pw_uid, pw.pw_gid)
    return root


# --------------------------------------------------------------------------------------------- homes
def copy_course(src: str | os.PathLike, home: str | os.PathLike, uid: int, gid: int) -> list[Path]:
    """Copy the course notebooks into ``home/medai-course``: only files the learner does not have yet.

    A learner's edit is never overwritten (existing files are left alone, even if the course changed);
    files added to the course later arrive at the next server start. Returns the new files."""
    src, dest = Path(src), Path(home) / COURSE_FOLDER
    new = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part in (".ipynb_checkpoints", "__pycache__") for part in rel.parts):
            continue
        target = dest / rel
        if path.is_dir():
            continue
        if target.exists() or target.is_symlink():
            continue
        for parent in reversed([*target.relative_to(home).parents][:-1]):
            folder = Path(home) / parent
            if not folder.exists():
                folder.mkdir()
                os.chown(folder, uid, gid)
        shutil.copyfile(path, target)
        os.chown(target, uid, gid)
        target.chmod(0o644)
        new.append(target)
    return new


def link_course(home: str | os.PathLike, course_root: str | os.PathLike, uid: int, gid: int) -> Path:
    """``home/medai-instructor`` -> the shared course folder (made or corrected; a real folder is left alone)."""
    link = Path(home) / INSTRUCTOR_LINK
    if link.is_symlink() and os.readlink(link) != str(course_root):
        link.unlink()
    if not link.exists() and not link.is_symlink():
        link.symlink_to(course_root)
        os.chown(link, uid, gid, follow_symlinks=False)
    return link


def pre_spawn_hook(spawner) -> None:
    """JupyterHub's pre_spawn_hook: the learner's home exists, is theirs alone (0700), and holds the course;
    the server gets the config folder of the user's role."""
    s = _SETTINGS
    name = spawner.user.name
    pw = pwd.getpwnam(name)
    home = Path(pw.pw_dir)
    if not home.is_dir():
        home.mkdir(mode=0o700, parents=True)
        os.chown(home, pw.pw_uid, pw.pw_gid)
    home.chmod(0o700)
    new = copy_course(s.course_notebooks, home, pw.pw_uid, pw.pw_gid)
    if new:
        spawner.log.info("copied %d course file(s) into %s", len(new), home / COURSE_FOLDER)
    role = "instructor" if name in s.instructors else "learner"
    config_dir = Path(s.state_dir) / "jupyter-config" / role
    spawner.environment = {**spawner.environment, "JUPYTER_CONFIG_PATH": str(config_dir), "MEDAI_HUB_ROLE": role}
    if name in s.instructors:
        link_course(home, s.course_root, pw.pw_uid, pw.pw_gid)
    profile = (spawner.user_options or {}).get("profile", "cpu")
    if profile == "gpu":
        spawner.environment.update(_gpu_slots().take(name))
        spawner.mem_limit = _bytes(s.gpu_mem_limit)


_SETTINGS: HubSettings | None = None


def _bytes(text) -> int:
    from medai_lib.course.hub_spawner import parse_bytes

    return parse_bytes(text)


# --------------------------------------------------------------------------------------------- GPU policy
class GpuSlots:
    """The GPU sharing policy of one server: each GPU takes at most ``kernels_per_gpu`` learners; a learner
    gets one GPU (CUDA_VISIBLE_DEVICES) and a memory fraction of ``1 / kernels_per_gpu`` of it
    (MEDAI_GPU_MEMORY_FRACTION, applied by PyTorch's set_per_process_memory_fraction). When every slot is
    taken, the GPU profile is refused with a message naming the CPU profile; nothing waits silently."""

    def __init__(self, gpu_count: int, kernels_per_gpu: int):
        if gpu_count < 0 or kernels_per_gpu < 1:
            raise MedaiInputError("GPU policy: gpu_count must be >= 0 and kernels_per_gpu >= 1.")
        self.gpu_count, self.per_gpu = gpu_count, kernels_per_gpu
        self.holders: dict[str, int] = {}

    def take(self, user: str) -> dict[str, str]:
        if user in self.holders:
            gpu = self.holders[user]
        else:
            load = [sum(1 for g in self.holders.values() if g == i) for i in range(self.gpu_count)]
            free = [i for i in range(self.gpu_count) if load[i] < self.per_gpu]
            if not free:
                raise MedaiInputError(
                    f"all {self.gpu_count * self.per_gpu} GPU places are taken ({self.per_gpu} learners on each of "
                    f"{self.gpu_count} GPU(s)); start the CPU profile, or try again when a GPU learner stops.")
            gpu = min(free, key=lambda i: load[i])
            self.holders[user] = gpu
        return {"CUDA_VISIBLE_DEVICES": str(gpu), "MEDAI_GPU_MEMORY_FRACTION": f"{1 / self.per_gpu:.3f}",
                "MEDAI_DEVICE": "cuda"}

    def release(self, user: str) -> None:
        self.holders.pop(user, None)


_GPU: GpuSlots | None = None


def _gpu_slots() -> GpuSlots:
    global _GPU
    if _GPU is None:
        _GPU = GpuSlots(_SETTINGS.gpu_count, _SETTINGS.kernels_per_gpu)
    return _GPU


def _post_stop_hook(spawner) -> None:
    if _GPU is not None:
        _GPU.release(spawner.user.name)


# --------------------------------------------------------------------------------------------- configure
def configure(c, s: HubSettings) -> None:
    """Fill JupyterHub's config object ``c`` for the class described by ``s``."""
    global _SETTINGS
    s.validate()
    _SETTINGS = s
    state = Path(s.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o711)  # the role config folders inside stay readable; database and secret are 0600
    write_role_configs(s)

    c.JupyterHub.bind_url = f"{'https' if s.ssl_cert else 'http'}://{s.ip}:{s.port}"
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{s.hub_port}"
    if s.ssl_cert:
        c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key = s.ssl_cert, s.ssl_key
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = s.cleanup_servers
    c.JupyterHub.cleanup_proxy = s.cleanup_servers
    c.ConfigurableHTTPProxy.command = [s.proxy_command]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s.proxy_api_port}"
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
    c.ConfigurableHTTPProxy.auth_token = _secret(state / "proxy_token")

    # Who may log in: the roster's people (real Linux users, PAM); admins are separate accounts.
    c.JupyterHub.authenticator_class = "jupyterhub.auth.PAMAuthenticator"
    c.Authenticator.allowed_users = set(s.instructors) | set(s.learners) | set(s.admins)
    c.Authenticator.admin_users = set(s.admins)
    c.Authenticator.username_pattern = USERNAME_RE.pattern
    c.PAMAuthenticator.open_sessions = False
    c.JupyterHub.load_groups = {"instructors": {"users": list(s.instructors)},
                                "learners": {"users": list(s.learners)}}
    c.JupyterHub.load_roles = [
        # Default: each user reaches their own server and nothing else (JupyterHub's 'self' scope).
        {"name": "user", "scopes": ["self"]},
        {"name": "instructor", "description": "see the learners and when they were last active",
         "scopes": ["self", "list:users!group=learners", "read:users:name!group=learners",
                    "read:users:activity!group=learners", "read:servers!group=learners"],
         "groups": ["instructors"]},
        {"name": "idle-culler", "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
         "services": ["idle-culler"]},
    ]
    c.JupyterHub.services = [{
        "name": "idle-culler",
        "command": [s.python, "-m", "jupyterhub_idle_culler", f"--timeout={s.cull_timeout}",
                    f"--cull-every={s.cull_every}", "--concurrency=5"],
    }]

    # Servers: the course environment, real users, enforced limits.
    c.JupyterHub.spawner_class = "medai_lib.course.hub_spawner.MedaiSpawner"
    c.Spawner.cmd = [str(s.bin_dir / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.notebook_dir = "~"
    c.Spawner.mem_limit = s.mem_limit
    c.Spawner.cpu_limit = float(s.cpu_limit)
    c.MedaiSpawner.pids_limit = int(s.pids_limit)
    c.Spawner.environment = {"PATH": f"{s.bin_dir}:/usr/local/bin:/usr/bin:/bin", "MPLBACKEND": "Agg"}
    c.Spawner.start_timeout = s.spawn_timeout
    c.Spawner.poll_interval = 10  # a server that died is noticed within seconds (cheap: a signal 0)
    c.Spawner.http_timeout = s.spawn_timeout
    c.Spawner.pre_spawn_hook = pre_spawn_hook
    c.Spawner.post_stop_hook = _post_stop_hook
    if s.gpu_count:
        c.Spawner.options_form = (
            "<label for='profile'>Server</label><select name='profile' id='profile'>"
            f"<option value='cpu'>CPU ({s.cpu_limit:g} core, {s.mem_limit} memory)</option>"
            f"<option value='gpu'>GPU (a share of 1 of {s.gpu_count} GPU(s), at most {s.kernels_per_gpu} "
            f"learners per GPU, {s.gpu_mem_limit} memory)</option></select>")
        c.Spawner.options_from_form = lambda form: {"profile": (form.get("profile") or ["cpu"])[0]}


def _secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


# --------------------------------------------------------------------------------------------- users
def create_user(name: str, *, password: str | None = None, groups: tuple = ()) -> str:
    """Create a Linux user (home 0700) and set a generated password; returns the password."""
    check_username(name)
    for g in groups:
        try:
            grp.getgrnam(g)
        except KeyError:
            subprocess.run(["groupadd", g], check=True, capture_output=True)
    cmd = ["useradd", "--create-home", "--shell", "/bin/bash", "--user-group"]
    if groups:
        cmd += ["--groups", ",".join(groups)]
    res = subprocess.run([*cmd, name], capture_output=True, text=True)
    if res.returncode:
        raise MedaiInputError(f"cannot create the user '{name}': {res.stderr.strip()}")
    home = Path(pwd.getpwnam(name).pw_dir)
    home.chmod(0o700)
    password = password or secrets.token_urlsafe(12)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True, capture_output=True)
    return password


def user_pids(name: str) -> list[int]:
    """Processes owned by the Linux user ``name`` (zombies, already dead, left out)."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return []
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid and "\nState:\tZ" not in (entry / "status").read_text():
                    out.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return out


def delete_user(name: str, *, prefix: str) -> None:
    """Kill what the throw-away user ``name`` still runs, then remove it with its home. Only names starting
    with ``prefix`` are touched (a safety catch against removing a real account)."""
    if not prefix or not name.startswith(prefix):
        raise MedaiInputError(f"refusing to delete '{name}': only throw-away users starting with '{prefix}'.")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = user_pids(name)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    subprocess.run(["userdel", "--remove", "--force", name], capture_output=True)
    try:
        grp.getgrnam(name)
        subprocess.run(["groupdel", name], capture_output=True)
    except KeyError:
        pass


def interpreter_blocker(python: str) -> tuple[Path, Path] | None:
    """(folder others cannot enter, its child holding the interpreter) if other users cannot run ``python``."""
    real = Path(os.path.realpath(python))
    for folder in [*reversed(real.parents)][1:]:
        if not folder.stat().st_mode & 0o001:
            return folder, folder / real.relative_to(folder).parts[0]
    return None


def interpreter_launcher(python: str, stash: Path) -> list[str]:
    """Command prefix that runs a command (and all it starts) where other users can run ``python``: in a
    private mount namespace, the folder that blocks them is replaced by an empty tmpfs holding only the
    interpreter's subtree (bind-mounted through ``stash``). Empty when ``python`` is reachable already."""
    blocked = interpreter_blocker(python)
    if blocked is None:
        return []
    parent, child = blocked
    stash.mkdir(exist_ok=True)
    script = (f"mount --bind {child} {stash} && mount -t tmpfs -o mode=0755 tmpfs {parent} && "
              f"mkdir -p {child} && mount --bind {stash} {child} && exec \"$@\"")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------- grading loop
def _nbgrader_stamp(text: str) -> str:
    """nbgrader's timestamp.txt ('2026-12-06 15:30:12.123456 UTC') -> 20261206T153012."""
    from nbgrader.utils import parse_utc

    return parse_utc(text.strip()).strftime("%Y%m%dT%H%M%S")


def stage_submissions(root: Path, lab: str, dest: Path) -> list[str]:
    """nbgrader's ``submitted/<student>/<lab>/<nb>.ipynb`` -> the ``<lab>_<student>_attempt_<time>_<nb>``
    files ``medai grade`` reads. Returns the students staged."""
    students = []
    dest.mkdir(parents=True, exist_ok=True)
    for sub in sorted((root / "submitted").glob(f"*/{lab}")):
        student = sub.parent.name
        check_username(student, where=f"submitted/{student}: ")
        stamp = _nbgrader_stamp((sub / "timestamp.txt").read_text())
        for nb in sorted(sub.glob("*.ipynb")):
            shutil.copyfile(nb, dest / f"{lab}_{student}_attempt_{stamp}_{nb.name}")
        students.append(student)
    return students


def publish_to_formgrader(root: Path, lab: str, summary) -> list[str]:
    """Show ``medai grade``'s results in formgrader as graded, not as "needs autograding".

    Formgrader calls a submission autograded when ``autograded/<student>/<lab>/`` exists and the gradebook's
    submission carries the timestamp of ``submitted/<student>/<lab>/timestamp.txt``. Without both, an instructor
    sees no score and an Autograde button, which would rerun the learner's code outside the grading sandbox.
    The executed notebooks from the sandbox are copied there and the timestamp set. Returns the students."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.utils import parse_utc

    published = []
    with Gradebook(summary.gradebook_url, course_id=COURSE_ID) as gb:
        for res in summary.results:
            sid = res["student_id"]
            stamp = Path(root) / "submitted" / sid / lab / "timestamp.txt"
            graded = Path(summary.out_dir) / "autograded" / sid
            if not res.get("notebooks"):
                continue  # nothing was graded (an empty or unreadable submission): the class report lists it
            try:
                submission = gb.find_submission(lab, sid)
            except MissingEntry:
                submission = None
            if submission is None or not stamp.is_file() or not graded.is_dir():
                log_warning(f"{sid}'s graded {lab} could not be shown in formgrader (no submitted/{sid}/{lab}/"
                            "timestamp.txt, graded notebooks or gradebook entry); the score is in the grades CSV. "
                            "Do not press formgrader's Autograde for it: rerun `medai hub grade`.")
                continue
            dest = Path(root) / "autograded" / sid / lab
            dest.mkdir(parents=True, exist_ok=True)
            for nb in graded.glob("*.ipynb"):
                shutil.copyfile(nb, dest / nb.name)
            shutil.copyfile(stamp, dest / "timestamp.txt")
            submission.timestamp = parse_utc(stamp.read_text().strip())
            gb.db.commit()
            published.append(sid)
    return published


def feedback_for_exchange(root: Path, lab: str, summary) -> list[str]:
    """Put ``medai grade``'s feedback pages where nbgrader's release_feedback looks for them:
    ``feedback/<student>/<lab>/<notebook>.html`` next to the submission's timestamp and secret."""
    done = []
    for res in summary.results:
        sid = res["student_id"]
        page = summary.out_dir / "feedback" / sid / f"{lab}.html"
        submitted = root / "submitted" / sid / lab
        if not page.exists() or not submitted.is_dir():
            continue
        target = root / "feedback" / sid / lab
        target.mkdir(parents=True, exist_ok=True)
        for name in ("timestamp.txt", "submission_secret.txt"):
            if (submitted / name).exists():
                shutil.copyfile(submitted / name, target / name)
        for nb in res["notebooks"]:
            shutil.copyfile(page, target / f"{Path(nb).stem}.html")
        done.append(sid)
    return done


def log_warning(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


def _nbgrader(args: list[str], cwd: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True, text=True)
    if res.returncode:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-6:])
        raise MedaiInputError(f"`nbgrader {' '.join(args)}` failed in '{cwd}':\n{tail}")


def set_aside_incomplete(exchange_root: str | os.PathLike, lab: str) -> list[str]:
    """Submissions in the exchange that nbgrader did not finish writing (the exchange's disk was full, the
    server died mid-copy: no timestamp or secret written) are renamed with a leading '.' so that
    ``nbgrader collect`` passes over them and grades the learner's previous complete submission instead.
    Nothing is deleted. Returns the names set aside."""
    inbound = Path(exchange_root) / COURSE_ID / "inbound"
    aside = []
    for sub in sorted(inbound.glob(f"*+{lab}+*")) if inbound.is_dir() else []:
        ok = all((sub / name).is_file() and (sub / name).stat().st_size > 0
                 for name in ("timestamp.txt", "submission_secret.txt"))
        if not ok:
            sub.rename(sub.with_name(f".incomplete-{sub.name}"))
            aside.append(sub.name)
    return aside


def hub_grade(lab: str, *, root: str | os.PathLike | None = None, jobs: int = 2, release_feedback: bool = True,
              sandbox: bool = True, progress=None, warn=None):
    """The instructor's loop on the hub: nbgrader collect -> ``medai grade`` (isolated) -> feedback released
    through the exchange. Returns the :class:`~medai_lib.course.grading.GradingSummary`."""
    from medai_lib.course.grading import grade_lab
    from medai_lib.course.labs import repo_root, resolve_lab

    root = Path(root).resolve() if root else repo_root()
    lab = resolve_lab(root, lab, kind="labs")
    from nbgrader.apps import NbGrader

    here = os.getcwd()
    os.chdir(root)
    try:
        app = NbGrader()
        app.initialize([])  # reads the nbgrader_config.py files the way `nbgrader collect` (run in root) does
    finally:
        os.chdir(here)
    exchange = app.config.Exchange.get("root", "/srv/nbgrader/exchange")  # nbgrader's default
    for name in set_aside_incomplete(exchange, lab):
        (warn or log_warning)(f"incomplete submission {name.split('+')[0]} {name.split('+')[2]} set aside (the exchange "
                              "was full or the copy was cut short): that learner's previous submission is graded; "
                              "ask them to submit again once the exchange has space.")
    _nbgrader(["collect", lab, "--update"], root)
    staged = Path(tempfile.mkdtemp(prefix="medai-hub-grade-"))
    try:
        students = stage_submissions(root, lab, staged)
        if not students:
            raise MedaiInputError(f"no submissions of {lab} were collected from the exchange; have learners "
                                  "submitted from the Assignments tab?")
        summary = grade_lab(lab, staged, root=root, jobs=jobs, progress=progress, sandbox=sandbox)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    publish_to_formgrader(root, lab, summary)
    if release_feedback:
        feedback_for_exchange(root, lab, summary)
        _nbgrader(["release_feedback", lab], root)
    return summary


# --------------------------------------------------------------------------------------------- client
class HubClient:
    """One user's view of the hub through its HTTP API (login form, token, server, REST and kernel API)."""

    def __init__(self, url: str, user: str, password: str | None = None, token: str | None = None):
        import requests

        self.url, self.user = url.rstrip("/"), user
        self.http = requests.Session()
        self.token = token
        if password is not None:
            self.login(password)

    def login(self, password: str) -> None:
        r = self.http.get(f"{self.url}/hub/login", timeout=30)
        xsrf = self.http.cookies.get("_xsrf", "")
        r = self.http.post(f"{self.url}/hub/login?next=", data={"username": self.user, "password": password,
                                                                "_xsrf": xsrf}, timeout=60, allow_redirects=False)
        if r.status_code not in (302, 303):
            raise MedaiInputError(f"login of '{self.user}' failed (HTTP {r.status_code}).")
        r = self.http.post(f"{self.url}/hub/api/users/{self.user}/tokens", json={"note": "medai", "expires_in": 3600},
                           headers={"X-XSRFToken": self.http.cookies.get("_xsrf", xsrf)}, timeout=30)
        r.raise_for_status()
        self.token = r.json()["token"]

    def request(self, method: str, path: str, **kw):
        headers = {**kw.pop("headers", {}), "Authorization": f"token {self.token}"}
        return self.http.request(method, f"{self.url}{path}", headers=headers, timeout=kw.pop("timeout", 120),
                                 allow_redirects=False, **kw)

    def server(self, user: str | None = None) -> str:
        return f"/user/{user or self.user}"

    def start(self, timeout: float = 120, options: dict | None = None) -> float:
        """Start the user's server and wait until it answers; returns the seconds it took."""
        t0 = time.perf_counter()
        r = self.request("POST", f"/hub/api/users/{self.user}/server", json=options or {})
        if r.status_code not in (201, 202, 400):  # 400: already running
            raise MedaiInputError(f"server of '{self.user}' did not start (HTTP {r.status_code}: {r.text[:200]}).")
        while time.perf_counter() - t0 < timeout:
            info = self.request("GET", f"/hub/api/users/{self.user}").json()
            srv = (info.get("servers") or {}).get("")
            if srv and srv.get("ready"):
                if self.request("GET", f"{self.server()}/api/status").status_code == 200:
                    return time.perf_counter() - t0
            elif not (srv or {}).get("pending") and time.perf_counter() - t0 > 5 and not srv:
                raise MedaiInputError(f"server of '{self.user}' stopped while starting; see the hub log.")
            time.sleep(0.25)
        raise MedaiInputError(f"server of '{self.user}' not ready after {timeout:.0f} s.")

    def stop(self) -> None:
        self.request("DELETE", f"/hub/api/users/{self.user}/server")

    def assignments(self, action: str | None = None, lab: str | None = None) -> list | dict:
        """nbgrader's Assignments tab: list (action None), 'fetch', 'submit' or 'fetch_feedback'."""
        if action is None:
            r = self.request("GET", f"{self.server()}/assignments", params={"course_id": COURSE_ID})
        else:
            r = self.request("POST", f"{self.server()}/assignments/{action}",
                             json={"course_id": COURSE_ID, "assignment_id": lab})
        r.raise_for_status()
        return r.json()

    def read(self, path: str) -> dict:
        r = self.request("GET", f"{self.server()}/api/contents/{path}", params={"content": 1})
        r.raise_for_status()
        return r.json()

    def save_notebook(self, path: str, nb: dict) -> None:
        r = self.request("PUT", f"{self.server()}/api/contents/{path}",
                         json={"type": "notebook", "format": "json", "content": nb})
        r.raise_for_status()

    def run_code(self, code: str, *, kernel: str = "medai", timeout: float = 120, kernel_id: str | None = None
                 ) -> tuple[str, str | None]:
        """Run ``code`` in a kernel of the user's server (Jupyter's kernel websocket); returns (stdout, error
        name or None). Starts a kernel unless ``kernel_id`` is given."""
        import uuid

        import websocket

        if kernel_id is None:
            r = self.request("POST", f"{self.server()}/api/kernels", json={"name": kernel})
            r.raise_for_status()
            kernel_id = r.json()["id"]
        ws_url = self.url.replace("http", "ws", 1) + f"{self.server()}/api/kernels/{kernel_id}/channels"
        ws = websocket.create_connection(ws_url, header=[f"Authorization: token {self.token}"], timeout=timeout)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.user,
                           "session": uuid.uuid4().hex, "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            out, error, deadline = [], None, time.monotonic() + timeout
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv())
                if msg.get("msg_type") == "status" and msg["content"].get("execution_state") in ("restarting", "dead"):
                    return "".join(out), "KernelDied"  # e.g. killed at the learner's memory limit
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "stream":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    error = msg["content"]["ename"]
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    return "".join(out), error
            raise TimeoutError(f"code did not finish in {timeout:.0f} s in {self.user}'s kernel")
        finally:
            ws.close()
            self._last_kernel = kernel_id


# --------------------------------------------------------------------------------------------- a throw-away hub
class ThrowawayHub:
    """A hub on 127.0.0.1 with generated demo accounts (instructor + learners as real Linux users), for trying
    the whole loop on one machine and for the tests. ``stop()`` removes every process, user and folder it
    made, also after a failure. Needs root (real users) and ``make hub-deps`` (the proxy)."""

    def __init__(self, *, learners: int = 3, prefix: str = "medai-demo-", course_root: Path | None = None,
                 workdir: Path | None = None, mem_limit: str = "1G", cpu_limit: float = 1.0, instructors: int = 1,
                 learner_names: list[str] | None = None, log=print, port: int | None = None):
        from medai_lib.course.labs import repo_root

        if os.geteuid() != 0:
            raise MedaiInputError("a demo hub creates real Linux users: run it as root (e.g. in a VM or container).")
        self.prefix = prefix
        self.log = log
        self.source_root = Path(course_root).resolve() if course_root else repo_root()
        proxy = default_proxy_command()
        if not Path(proxy).exists():
            raise MedaiInputError(f"configurable-http-proxy is missing ({proxy}); run `make hub-deps` first.")
        self.work = Path(workdir or tempfile.mkdtemp(prefix="medai-hub-"))
        self.work.chmod(0o755)
        self.instructor_names = [f"{prefix}teach{i + 1}" if instructors > 1 else f"{prefix}teach" for i in range(instructors)]
        self.learner_names = learner_names or [f"{prefix}l{i + 1:02d}" for i in range(learners)]
        self.passwords: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None
        self.settings = HubSettings(
            state_dir=str(self.work / "state"), course_root=str(self.work / "course"),
            course_notebooks=str(self.work / "course" / "course"), exchange_root=str(self.work / "exchange"),
            instructors=self.instructor_names, learners=self.learner_names, port=port or free_port(),
            hub_port=free_port(), proxy_api_port=free_port(), proxy_command=proxy, mem_limit=mem_limit,
            cpu_limit=cpu_limit, cleanup_servers=False, cull_timeout=3600, cull_every=60)
        self.url = f"http://127.0.0.1:{self.settings.port}"

    # -- setup
    def setup(self) -> None:
        for name in self.instructor_names + self.learner_names:
            self.passwords[name] = create_user(name)
        teach = pwd.getpwnam(self.instructor_names[0])
        course = Path(self.settings.course_root)
        ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "submitted", "autograded", "feedback",
                                        "gradebook.db", "release")
        course.mkdir()
        for item in ("nbgrader_config.py", "solutions", "labs", "course"):
            src = self.source_root / item
            if src.is_dir():
                shutil.copytree(src, course / item, ignore=ignore)
            elif src.exists():
                shutil.copyfile(src, course / item)
        for path in [course, *course.rglob("*")]:
            os.chown(path, teach.pw_uid, teach.pw_gid, follow_symlinks=False)
        course.chmod(0o700)  # solutions and gradebook: the instructor's only
        for name in self.instructor_names:
            pw = pwd.getpwnam(name)
            link_course(pw.pw_dir, course, pw.pw_uid, pw.pw_gid)
        # What learners receive (the course notebooks, no solutions) lives outside the instructor's folder.
        shutil.copytree(course / "course", self.work / "learner-course", ignore=ignore)
        self.settings.course_notebooks = str(self.work / "learner-course")
        ensure_exchange(self.settings.exchange_root, owner=self.instructor_names[0])
        Path(self.settings.state_dir).mkdir()
        self.settings.write(Path(self.settings.state_dir) / "hub-settings.json")

    def _launcher(self) -> list[str]:
        """A prefix that lets the learners run the course's interpreter when it lives in a folder they cannot
        enter (e.g. installed in root's home): see :func:`interpreter_launcher`. Empty when the interpreter is
        already reachable (a real install, e.g. under /opt)."""
        return interpreter_launcher(self.settings.python, self.work / "interpreter")

    def start(self, timeout: float = 60) -> None:
        import requests

        config = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub_config.py"
        env = {**os.environ, "MEDAI_HUB_SETTINGS": str(Path(self.settings.state_dir) / "hub-settings.json"),
               "PATH": f"{self.settings.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        self.hub_log = open(self.work / "hub.log", "ab")
        self.namespaced = bool(self._launcher())
        self.proc = subprocess.Popen([*self._launcher(), str(self.settings.bin_dir / "jupyterhub"), "-f", str(config)],
                                     cwd=self.settings.state_dir, env=env, stdout=self.hub_log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise MedaiInputError(f"the hub exited ({self.proc.returncode}); last lines of its log:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/hub/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise MedaiInputError(f"the hub did not answer within {timeout:.0f} s; log:\n{self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join((self.work / "hub.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def restart(self, timeout: float = 120) -> None:
        """Stop the hub process only (servers and proxy keep running, as with systemctl restart) and start it
        again; the new hub finds the running servers."""
        self.stop_hub(keep_proxy=True)
        self.start(timeout=timeout)

    def stop_hub(self, timeout: float = 30, keep_proxy: bool = False) -> None:
        """Stop the hub (with ``cleanup_servers`` it stops the servers and the proxy it started); unless
        ``keep_proxy``, a proxy left behind is killed."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if getattr(self, "hub_log", None):
            self.hub_log.close()
        proxy_pid = Path(self.settings.state_dir) / "proxy.pid"
        if keep_proxy:
            return
        if proxy_pid.exists():
            try:
                os.kill(int(proxy_pid.read_text().strip()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass
            proxy_pid.unlink(missing_ok=True)

    def stop(self) -> None:
        """Hub, proxy, servers, users, cgroups and folders: all gone (servers outlive the hub, as in a class,
        so they are stopped here through their cgroups and the users' processes)."""
        try:
            self.stop_hub()
        finally:
            from medai_lib.course.hub_spawner import CgroupError, UserCgroups

            try:
                cgroups = UserCgroups()
            except CgroupError:
                cgroups = None
            for name in self.instructor_names + self.learner_names:
                if cgroups:
                    cgroups.remove(name)
                delete_user(name, prefix=self.prefix)
            if cgroups:
                cgroups.remove_base()
            shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self):
        try:
            self.setup()
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def client(self, name: str) -> HubClient:
        return HubClient(self.url, name, self.passwords[name])

    def as_user(self, name: str, args: list[str], cwd: str | None = None, timeout: float = 600, env: dict | None = None):
        """Run a command as the Linux user ``name`` (what they could do in a terminal)."""
        pw = pwd.getpwnam(name)
        role = "instructor" if name in self.instructor_names else "learner"
        base = {"HOME": pw.pw_dir, "USER": name, "LOGNAME": name, "PATH": f"{self.settings.bin_dir}:/usr/bin:/bin",
                "MPLBACKEND": "Agg", "JUPYTER_CONFIG_PATH": str(Path(self.settings.state_dir) / "jupyter-config" / role),
                **(env or {})}
        enter = ["nsenter", "--target", str(self.proc.pid), "--mount", "--"] if getattr(self, "namespaced", False) else []
        return subprocess.run([*enter, "runuser", "-u", name, "--", "env", "-i", f"--chdir={cwd or pw.pw_dir}",
                               *[f"{k}={v}" for k, v in base.items()], *args],
                              capture_output=True, text=True, timeout=timeout)


def run_demo(learners: int = 3, port: int = 8000) -> int:
    """``medai hub demo``: a throw-away class on http://127.0.0.1:PORT until Ctrl-C; accounts printed once."""
    if not 1 <= learners <= 50:
        raise MedaiInputError(f"--learners {learners}: give 1 to 50.")
    hub = ThrowawayHub(learners=learners, port=port)
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with hub:
            print(f"Demo hub: {hub.url}  (stops with Ctrl-C; accounts, folders and servers are then removed)")
            print("Accounts (passwords shown once):")
            for name in hub.instructor_names:
                print(f"  instructor  {name:24s} {hub.passwords[name]}")
            for name in hub.learner_names:
                print(f"  learner     {name:24s} {hub.passwords[name]}")
            print(f"Instructor: open a terminal in the hub and run `cd {hub.settings.course_root} && "
                  "nbgrader release_assignment lab00_clinical_values`; then `medai hub grade lab00` after submissions.",
                  flush=True)
            while not stop["now"]:
                if hub.proc.poll() is not None:
                    print(f"the hub stopped unexpectedly; log:\n{hub.log_tail()}", file=sys.stderr)
                    return 1
                time.sleep(0.5)
            print("stopping the demo hub ...", flush=True)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    print("demo hub stopped; demo users and folders removed")
    return 0


# --------------------------------------------------------------------------------------------- CLI
def add_parser(sub) -> None:
    """Register ``medai hub`` on an argparse sub-parsers object."""
    h = sub.add_parser("hub", help="the course as a class on JupyterHub (demo, grading loop, roster check)")
    hsub = h.add_subparsers(dest="hub_command", metavar="ACTION")
    hsub.required = True
    d = hsub.add_parser("demo", help="throw-away hub on 127.0.0.1 with demo accounts (root; stops with Ctrl-C)")
    d.add_argument("--learners", type=int, default=3, help="demo learners (default 3)")
    d.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    d.set_defaults(func=lambda a: run_demo(a.learners, a.port))
    g = hsub.add_parser("grade", help="collect a lab from the exchange, grade it (medai grade), release feedback")
    g.add_argument("lab", help="e.g. lab00")
    g.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    g.add_argument("--no-feedback", action="store_true", help="grade only; release feedback later")
    g.set_defaults(func=_cmd_grade)
    r = hsub.add_parser("check-roster", help="check a roster CSV (username,role) before the hub reads it")
    r.add_argument("roster")
    r.set_defaults(func=_cmd_check_roster)


def _cmd_grade(args) -> int:
    def show(res):
        total = sum(t["score"] for e in res["notebooks"].values() for t in e["tests"].values())
        print(f"  {res['student_id']}: {total:g} points", flush=True)

    summary = hub_grade(args.lab, jobs=args.jobs, release_feedback=not args.no_feedback, progress=show)
    print(f"graded {len(summary.results)} submission(s) of {summary.lab}; grades: {summary.grades_csv}")
    print("feedback released: learners fetch it from the Assignments tab" if not args.no_feedback
          else "feedback not released (run again without --no-feedback)")
    return 0


def _cmd_check_roster(args) -> int:
    people = read_roster(args.roster)
    print(f"roster ok: {len(people['instructors'])} instructor(s), {len(people['learners'])} learner(s)")
    return 0
