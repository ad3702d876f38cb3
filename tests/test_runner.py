"""The notebook runner: parameters, failures with their cell, recorded metrics, summary files."""
from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import run_medai
from medai_lib.course.runner import discover_notebooks, parse_parameter_value, run_notebooks
from medai_lib.errors import MedaiInputError


def _nb(path, cells, params="QUICK = False\nDEVICE = 'auto'\nSEED = 0\nDATA_DIR = None\nN = 3"):
    nb = new_notebook(cells=[new_markdown_cell("# t")])
    if params is not None:
        p = new_code_cell(params)
        p.metadata["tags"] = ["parameters"]
        nb.cells.append(p)
    nb.cells += [new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "medai", "display_name": "MedAI (Python 3)", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_records_and_parameters_reach_the_summary(tmp_path):
    nb = _nb(tmp_path / "ok.ipynb", ["from medai_lib import record\nrecord('n_twice', N * 2)\nrecord('quick', QUICK)"])
    summary = run_notebooks([nb], quick=True, out_dir=tmp_path / "out", parameters={"N": 21})
    res = summary.results[0]
    assert res.ok and res.metrics == {"n_twice": 42, "quick": True}
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["ok"] is True and saved["results"][0]["metrics"]["n_twice"] == 42
    assert (tmp_path / "out" / "summary.md").exists()


def test_a_failing_cell_is_reported_with_its_index(tmp_path):
    nb = _nb(tmp_path / "bad.ipynb", ["x = 1", "raise ValueError('the data folder is empty')", "y = 2"])
    summary = run_notebooks([nb], out_dir=tmp_path / "out")
    res = summary.results[0]
    assert not res.ok and not summary.ok
    assert res.error["ename"] == "ValueError" and "data folder is empty" in res.error["evalue"]
    assert res.error["cell_index"] == 3
    assert "cell 3: ValueError" in res.reason()


def test_cli_exit_status_and_one_line_reason(tmp_path):
    nb = _nb(tmp_path / "bad.ipynb", ["1/0"])
    proc = run_medai("run", str(nb), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1
    assert "ZeroDivisionError" in proc.stderr and "Traceback" not in proc.stderr
    # kernels talk over private Unix sockets, not TCP: no transport warning clutters the terminal
    assert "without encryption" not in proc.stderr + proc.stdout


def test_a_cell_timeout_fails_the_notebook(tmp_path):
    nb = _nb(tmp_path / "slow.ipynb", ["import time\ntime.sleep(30)"])
    summary = run_notebooks([nb], out_dir=tmp_path / "out", timeout=3)
    assert not summary.ok
    assert "Timeout" in summary.results[0].error["ename"] or "timeout" in summary.results[0].reason().lower()


def test_notebook_without_parameters_cell(tmp_path):
    nb = _nb(tmp_path / "noparams.ipynb", ["1"], params=None)
    with pytest.raises(MedaiInputError, match="no cell tagged 'parameters'"):
        run_notebooks([nb], out_dir=tmp_path / "out")


def test_unknown_parameter_names_the_declared_ones(tmp_path):
    nb = _nb(tmp_path / "a.ipynb", ["1"])
    with pytest.raises(MedaiInputError, match=r"unknown parameter\(s\) EPOCHS .* declares: DATA_DIR, DEVICE, N, QUICK, SEED"):
        run_notebooks([nb], out_dir=tmp_path / "out", parameters={"EPOCHS": 3})


def test_discovery_and_bad_paths(tmp_path):
    with pytest.raises(MedaiInputError, match="does not exist"):
        discover_notebooks([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MedaiInputError, match="holds no notebooks"):
        discover_notebooks([tmp_path / "empty"])
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(MedaiInputError, match="is not a notebook"):
        discover_notebooks([tmp_path / "x.txt"])


@pytest.mark.parametrize("text, value", [("3", 3), ("0.5", 0.5), ("True", True), ("true", True), ("None", None),
                                          ("/data/psg", "/data/psg"), ("cuda", "cuda"), ("[1, 2]", [1, 2])])
def test_parameter_values_from_the_command_line(text, value):
    assert parse_parameter_value(text) == value


def test_html_report_lists_status_metrics_and_links(tmp_path):
    from medai_lib.course.report import write_report

    good = _nb(tmp_path / "good.ipynb", ["from medai_lib import record\nrecord('auc', 0.81)"])
    bad = _nb(tmp_path / "bad.ipynb", ["raise RuntimeError('no data')"])
    summary = run_notebooks([good, bad], out_dir=tmp_path / "out", jobs=2)
    page = write_report(summary).read_text()
    assert "1 passed, 1 failed" in page
    assert "auc = 0.81" in page and "RuntimeError: no data" in page
    assert "href=" in page and "<caption>" in page


def test_data_prepare_command_runs(tmp_path):
    proc = run_medai("data", "prepare", "--quick", env={"MEDAI_DATA": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert str(tmp_path) in proc.stdout


def test_executed_notebooks_keep_their_figures_under_a_batch_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = _nb(tmp_path / "fig.ipynb", ["import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"])
    summary = run_notebooks([nb], out_dir=tmp_path / "out")
    executed = nbformat.read(summary.results[0].output, as_version=4)
    assert any("image/png" in o.get("data", {}) for c in executed.cells for o in c.get("outputs", []))
