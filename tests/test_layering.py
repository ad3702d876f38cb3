"""The shared packages sit below the tracks: `medai_lib.data` (paths, the cache) and `medai_lib.evaluation`
(clinical metrics) import no track, anywhere in their code (also not lazily inside a function)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import medai_lib

LIB = Path(medai_lib.__file__).parent
TRACKS = ("medai_lib.fibrosis", "medai_lib.apnea", "medai_lib.cancer")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names.add(str(node.args[0].value))
    return names


@pytest.mark.parametrize("package", ["data", "evaluation"])
def test_shared_package_imports_no_track(package):
    offending = {}
    for path in sorted((LIB / package).rglob("*.py")):
        bad = sorted(n for n in _imports(path) if n.startswith(TRACKS))
        if bad:
            offending[str(path.relative_to(LIB))] = bad
    assert not offending, f"shared package imports a track: {offending}"


def test_importing_the_shared_packages_loads_no_track():
    code = ("import sys, medai_lib.data, medai_lib.data.cache, medai_lib.evaluation\n"
            f"print(sorted(m for m in sys.modules if m.startswith({TRACKS!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_the_import_check_sees_a_lazy_track_import(tmp_path):
    # The checker itself: an import hidden in a function body is found.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from medai_lib.apnea import simulate\n    return simulate\n")
    assert "medai_lib.apnea" in _imports(probe)


def test_every_track_lists_its_sample_sets():
    from medai_lib.course.sample_data import TRACKS as PREPARED
    import importlib

    for track in PREPARED:
        sets = importlib.import_module(f"medai_lib.{track}.sample_data").sample_sets(True)
        assert sets and all(callable(s) for s in sets), track
