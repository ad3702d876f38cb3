"""Every notebook runs end to end in quick mode and follows the notebook contract (DESIGN.md)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, all_notebooks

NOTEBOOKS = all_notebooks()
IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]


def _load(path):
    return json.loads(path.read_text())


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes_in_quick_mode(notebook_run, path):
    rel = str(path.relative_to(ROOT))
    results = {r["notebook"]: r for r in notebook_run["results"]}
    assert rel in results, f"{rel} was not executed by `medai run course solutions`"
    res = results[rel]
    assert res["status"] == "ok", f"{rel} failed: {res['error']}"
    assert res["parameters"].get("QUICK") is True


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_contract(path):
    nb = _load(path)
    cells = nb["cells"]
    # Committed without outputs or execution counts.
    for cell in cells:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name}: committed with outputs"
            assert cell.get("execution_count") is None, f"{path.name}: committed with execution counts"
    # A fixed kernelspec.
    assert nb["metadata"]["kernelspec"]["name"] == "medai"
    # A parameters cell near the top with the four contract parameters.
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert tagged[0] <= 4, f"{path.name}: the parameters cell must be near the top"
    source = "".join(cells[tagged[0]]["source"])
    for name, default in (("QUICK", "False"), ("DEVICE", '"auto"'), ("SEED", "0"), ("DATA_DIR", "None")):
        assert re.search(rf"^{name}\s*=\s*{re.escape(default)}", source, flags=re.M), (
            f"{path.name}: parameters cell must set {name} = {default}"
        )
    # Every parameter is one that papermill can read and override (a line it cannot parse is silently left
    # out of `medai run -p`).
    from papermill.translators import PythonTranslator

    assigned = re.findall(r"^([A-Z_][A-Z0-9_]*)\s*=", source, flags=re.M)
    parsed = [p.name for p in PythonTranslator.inspect(nbformat.v4.new_code_cell(source))]
    assert parsed == assigned, f"{path.name}: papermill reads the parameters {parsed}, the cell sets {assigned}"
    # First cell: objectives, audience, prerequisites, runtime budget. Last cell: where to go next.
    first = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown"
    for word in ("learn|practise", "For", "Prerequisite", "Runtime"):
        assert re.search(word, first), f"{path.name}: first cell must state {word!r}"
    last = "".join(cells[-1]["source"])
    assert "Next" in last, f"{path.name}: last cell must point to the next notebook or lab"
    # A runtime budget in the metadata (the run report flags notebooks over budget).
    budget = nb["metadata"].get("medai", {}).get("budget", {})
    assert budget.get("quick_cpu_s"), f"{path.name}: metadata.medai.budget.quick_cpu_s is missing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_models_carry_not_for_clinical_use(path):
    text = path.read_text()
    if re.search(r"\.fit\(|training\.fit|train_model", text):
        assert "not for clinical use" in text.lower(), f"{path.name} builds a model: say it is not for clinical use"


def test_prepared_quick_sample_sets_are_the_ones_the_notebooks_open(notebook_run, monkeypatch):
    """`medai data prepare --quick` must prepare exactly cohorts the quick notebooks opened: after the
    notebooks ran, preparing finds every set in the cache and creates nothing new."""
    from medai_lib.course.sample_data import prepare_sample_data

    root = Path(notebook_run["medai_data"])
    before = {p.name for p in root.iterdir()}
    monkeypatch.setenv("MEDAI_DATA", str(root))
    lines = prepare_sample_data(quick=True)
    created = {p.name for p in root.iterdir()} - before
    assert not created, f"prepared sets that no quick notebook opened (sizes out of step?): {sorted(created)}"
    assert len(lines) == 3 and all("ready" in line for line in lines), lines
