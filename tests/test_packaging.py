"""Packaging stays consistent: environment.yml mirrors pyproject, the CPU pin and the lock agree."""
from __future__ import annotations

import re
import tomllib

import yaml

from conftest import ROOT

CONDA_NAMES = {"torch": "pytorch"}


def _split(spec: str) -> tuple[str, str]:
    m = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", spec)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_split(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    have = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            have.update(_split(s) for s in dep["pip"])
        elif not dep.startswith(("python", "pip")):
            have.update([_split(dep)])
    expected = {CONDA_NAMES.get(k, k): v for k, v in wanted.items()}
    assert have == expected


def test_cpu_constraint_pins_the_local_torch_build_and_the_lock_agrees():
    assert (ROOT / "constraints" / "cpu.txt").read_text().split() == ["torch==2.13.0"]
    lock = (ROOT / "constraints" / "lock.txt").read_text()
    assert re.search(r"^torch==2\.13\.0", lock, flags=re.M)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = {_split(line)[0] for line in lock.splitlines() if "==" in line}
    for spec in project["dependencies"]:
        assert _split(spec)[0] in locked, f"{spec} is missing from constraints/lock.txt (run `make lock`)"


def test_console_script_and_kernel_name():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["medai"] == "medai_lib.course.cli:main"
    from medai_lib.course.kernel import KERNEL_DISPLAY_NAME, KERNEL_NAME

    assert (KERNEL_NAME, KERNEL_DISPLAY_NAME) == ("medai", "MedAI (Python 3)")
