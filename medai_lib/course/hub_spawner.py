"""The class hub's spawner: JupyterHub's LocalProcessSpawner (each learner a real Linux user) with enforced
per-learner limits.

Limits are kernel-enforced through cgroups, not advisory: each learner's server (and every kernel or
process it starts) runs in its own cgroup under the hub's cgroup, ``medai-hub/<user>``, with

- memory: ``memory.max`` (cgroup v2) or ``memory.limit_in_bytes`` (v1), swap included; over the limit the
  kernel's OOM killer stops the largest process of that learner only (usually the notebook kernel, which
  Jupyter restarts; the server and the learner's saved files survive);
- CPU: ``cpu.max`` (v2) or a CFS quota (v1): ``cpu_limit`` cores at most;
- processes: ``pids.max``, so a fork bomb in one notebook cannot starve the class.

On a systemd host (cgroup v2) the hub runs as a service with ``Delegate=yes`` (deploy/medai-hub.service), so
it owns its subtree; on a cgroup-v1 host the same tree is made in the memory, cpu and pids hierarchies.
When the server stops, every process left in the learner's cgroup is killed and the cgroup removed.
"""
from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "cpu", "pids")
CPU_PERIOD_US = 100_000


class CgroupError(RuntimeError):
    """The host cannot enforce the limits (no cgroup support, or not allowed to create cgroups)."""


def parse_bytes(value) -> int:
    """``"2G"``, ``"512M"``, ``1073741824`` -> bytes (JupyterHub's ByteSpecification suffixes K, M, G, T)."""
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip().upper().removesuffix("B")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def _own_cgroups() -> dict[str, str]:
    """{controller or '' for the v2 unified tree: this process's cgroup path} from /proc/self/cgroup."""
    out = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for ctl in (controllers.split(",") if controllers else [""]):
            out[ctl] = path
    return out


def cgroup_version(root: Path = CGROUP_ROOT) -> int | None:
    """2 if the unified hierarchy holds the memory controller, 1 if v1 hierarchies do, else None."""
    controllers = root / "cgroup.controllers"
    if controllers.exists() and "memory" in controllers.read_text().split():
        return 2
    if (root / "memory" / "memory.limit_in_bytes").exists():
        return 1
    return None


def _v1_mount(root: Path, controller: str) -> Path:
    for entry in root.iterdir():
        if entry.is_dir() and controller in entry.name.split(","):
            return entry
    raise CgroupError(f"no cgroup v1 hierarchy for the {controller} controller under {root}")


class UserCgroups:
    """The cgroups of one hub's learners: ``<hub's cgroup>/<name>/<user>`` in each hierarchy."""

    def __init__(self, name: str = "medai-hub", root: Path = CGROUP_ROOT):
        self.name = name
        self.root = Path(root)
        self.version = cgroup_version(self.root)
        if self.version is None:
            raise CgroupError(
                f"this host has no usable cgroup memory controller under {self.root}: per-learner limits "
                "cannot be enforced (see docs/HUB_GUIDE.md, 'Limits').")
        own = _own_cgroups()
        if self.version == 2:
            self.bases = {"": self.root / own.get("", "/").lstrip("/") / name}
        else:
            self.bases = {c: _v1_mount(self.root, c) / own.get(c, "/").lstrip("/") / name for c in CONTROLLERS}

    # ------------------------------------------------------------------ setup
    def _enable_v2(self) -> None:
        """Enable memory, cpu and pids for the children of the hub's cgroup (cgroup v2 delegation).

        v2 allows controllers in a cgroup's children only when the cgroup itself holds no process, so the
        hub's own processes move into a ``hub`` leaf first (what a delegated systemd service must do)."""
        group = self.bases[""]
        parent = group.parent
        wanted = " ".join(f"+{c}" for c in CONTROLLERS)
        if parent != self.root and not set(CONTROLLERS) <= set((parent / "cgroup.subtree_control").read_text().split()):
            procs = [p for p in (parent / "cgroup.procs").read_text().split() if p]
            if procs:
                leaf = parent / "hub"
                leaf.mkdir(exist_ok=True)
                for pid in procs:
                    try:
                        (leaf / "cgroup.procs").write_text(pid)
                    except ProcessLookupError:
                        pass
            (parent / "cgroup.subtree_control").write_text(wanted)
        group.mkdir(exist_ok=True)
        (group / "cgroup.subtree_control").write_text(wanted)

    def user_dirs(self, user: str) -> dict[str, Path]:
        return {ctl: base / user for ctl, base in self.bases.items()}

    def create(self, user: str, *, mem_bytes: int = 0, cpu: float = 0.0, pids: int = 0) -> list[Path]:
        """Make (or reset) ``user``'s cgroups with the limits; returns the ``cgroup.procs`` files to join."""
        try:
            if self.version == 2:
                self._enable_v2()
            dirs = self.user_dirs(user)
            for path in dirs.values():
                path.mkdir(parents=True, exist_ok=True)
            if self.version == 2:
                d = dirs[""]
                (d / "memory.max").write_text(str(mem_bytes) if mem_bytes else "max")
                if (d / "memory.swap.max").exists():
                    (d / "memory.swap.max").write_text("0" if mem_bytes else "max")
                (d / "cpu.max").write_text(f"{int(cpu * CPU_PERIOD_US)} {CPU_PERIOD_US}" if cpu else f"max {CPU_PERIOD_US}")
                (d / "pids.max").write_text(str(pids) if pids else "max")
            else:
                m = dirs["memory"]
                if mem_bytes:
                    (m / "memory.limit_in_bytes").write_text(str(mem_bytes))
                    if (m / "memory.memsw.limit_in_bytes").exists():  # swap accounting on: no escape to swap
                        (m / "memory.memsw.limit_in_bytes").write_text(str(mem_bytes))
                c = dirs["cpu"]
                (c / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (c / "cpu.cfs_quota_us").write_text(str(int(cpu * CPU_PERIOD_US)) if cpu else "-1")
                (dirs["pids"] / "pids.max").write_text(str(pids) if pids else "max")
        except OSError as exc:
            raise CgroupError(f"cannot set up the cgroup of '{user}' ({exc}); the hub must run as root with a "
                              "delegated cgroup (see docs/HUB_GUIDE.md, 'Limits').") from exc
        return [d / "cgroup.procs" for d in dirs.values()]

    # ------------------------------------------------------------------ reading
    def pids(self, user: str) -> list[int]:
        d = self.user_dirs(user)["" if self.version == 2 else "memory"]
        try:
            return [int(p) for p in (d / "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            return []

    def memory_bytes(self, user: str) -> int:
        """Memory the learner's processes use now (page cache included, as the limit counts it)."""
        d = self.user_dirs(user)["" if self.version == 2 else "memory"]
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        try:
            return int((d / name).read_text())
        except FileNotFoundError:
            return 0

    def anon_bytes(self, user: str) -> int:
        """The learner's own (anonymous) memory: what grows with each learner. Shared library files in the
        page cache are charged to whichever learner read them first, so they are left out here."""
        d = self.user_dirs(user)["" if self.version == 2 else "memory"]
        key = "anon" if self.version == 2 else "total_rss"
        try:
            for line in (d / "memory.stat").read_text().splitlines():
                name, value = line.split()
                if name == key:
                    return int(value)
        except FileNotFoundError:
            pass
        return 0

    def memory_limit(self, user: str) -> int | None:
        d = self.user_dirs(user)["" if self.version == 2 else "memory"]
        text = (d / ("memory.max" if self.version == 2 else "memory.limit_in_bytes")).read_text().strip()
        return None if text == "max" else int(text)

    def oom_kills(self, user: str) -> int:
        """How many of the learner's processes the kernel killed at the memory limit."""
        d = self.user_dirs(user)["" if self.version == 2 else "memory"]
        if self.version == 2:
            for line in (d / "memory.events").read_text().splitlines():
                key, value = line.split()
                if key == "oom_kill":
                    return int(value)
            return 0
        for line in (d / "memory.oom_control").read_text().splitlines():  # kernels >= 4.13 count OOM kills
            key, value = line.split()
            if key == "oom_kill":
                return int(value)
        return int((d / "memory.failcnt").read_text())

    # ------------------------------------------------------------------ teardown
    def kill_all(self, user: str, timeout: float = 5.0) -> None:
        """SIGKILL every process left in the learner's cgroups (stray kernels, background jobs)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            left = self.pids(user)
            if not left:
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def remove_base(self) -> None:
        """Remove the hub's own (empty) cgroup folders, e.g. after a throw-away hub; busy ones stay."""
        for base in self.bases.values():
            for path in (base / "hub", base):
                try:
                    path.rmdir()
                except OSError:
                    pass

    def remove(self, user: str) -> None:
        self.kill_all(user)
        for path in self.user_dirs(user).values():
            for _ in range(20):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy for a moment while the last process is reaped
                    time.sleep(0.1)


@functools.lru_cache(maxsize=None)
def _spawner_class():
    """Defined lazily so ``medai`` does not import JupyterHub unless a hub is run."""
    from jupyterhub.spawner import LocalProcessSpawner
    from traitlets import Integer, Unicode

    class MedaiSpawner(LocalProcessSpawner):
        """LocalProcessSpawner whose servers run inside enforced per-user cgroups (see module docstring)."""

        cgroup_name = Unicode("medai-hub", config=True, help="Name of the hub's cgroup subtree.")
        pids_limit = Integer(256, config=True, help="Most processes (and threads) one learner may run.")

        def _cgroups(self) -> UserCgroups:
            if not hasattr(self, "_medai_cgroups"):
                self._medai_cgroups = UserCgroups(self.cgroup_name)
            return self._medai_cgroups

        async def start(self):
            cgroups = self._cgroups()
            self._medai_procs = cgroups.create(self.user.name, mem_bytes=int(self.mem_limit or 0),
                                               cpu=float(self.cpu_limit or 0), pids=self.pids_limit)
            return await super().start()

        def make_preexec_fn(self, name):
            drop_privileges = super().make_preexec_fn(name)
            procs = [str(p) for p in getattr(self, "_medai_procs", [])]

            def preexec():  # runs in the child, as root, before it becomes the learner
                for path in procs:
                    with open(path, "w") as fh:
                        fh.write(str(os.getpid()))
                drop_privileges()

            return preexec

        async def stop(self, now=False):
            await super().stop(now=now)
            self._cgroups().remove(self.user.name)

    return MedaiSpawner


def __getattr__(name):
    if name == "MedaiSpawner":
        return _spawner_class()
    raise AttributeError(name)
