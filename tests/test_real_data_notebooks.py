"""One notebook per track runs on a folder in its public dataset's layout (``DATA_DIR``), the way a researcher
runs the course on their own copy of ChestX-ray14, Sleep-EDF or a genotype study: same command, same
code path, no ground truth available. The recorded metrics must come from the folder, not from the
synthetic sample data."""
from __future__ import annotations

import json
import re

import nbformat
import pandas as pd
import pytest

from conftest import run_medai
from real_data_fixtures import (
    write_chestxray14,
    write_genotype_folder,
    write_sleep_edf,
    write_unscored_psg_folder,
)


def _execute(notebook: str, data_dir, out, parameters: dict) -> dict:
    """Run ``notebook`` in quick mode on ``data_dir``, plus ``-p NAME VALUE`` for each parameter."""
    extra = [arg for name, value in parameters.items() for arg in ("-p", name, str(value))]
    proc = run_medai("run", notebook, "--quick", "-p", "DATA_DIR", str(data_dir), *extra, "--out", str(out),
                     "--timeout", "600")
    summary_path = out / "summary.json"
    assert summary_path.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(summary_path.read_text())["results"][0]
    result["returncode"], result["stdout"] = proc.returncode, proc.stdout
    return result


def _run(notebook: str, data_dir, out, **parameters) -> dict:
    result = _execute(notebook, data_dir, out, parameters)
    assert result["returncode"] == 0 and result["status"] == "ok", (
        f"{notebook} failed on a DATA_DIR folder: {result.get('error')}\n{result['stdout'][-2000:]}"
    )
    assert result["parameters"]["DATA_DIR"] == str(data_dir)
    for name, value in parameters.items():
        assert result["parameters"][name] == value
    return result["metrics"]


def test_fibrosis_notebook_on_a_chestxray14_folder(tmp_path):
    folder = write_chestxray14(tmp_path / "cxr14", n_patients=24)
    table = pd.read_csv(folder / "Data_Entry_2017.csv")
    pa = table[table["View Position"] == "PA"]
    metrics = _run("course/02_fibrosis/01_dicom_and_images.ipynb", folder, tmp_path / "out")
    assert metrics["n_images"] == len(pa)  # AP films left out, every PA film read
    prevalence = pa["Finding Labels"].str.split("|").apply(lambda f: "Fibrosis" in f).mean()
    assert metrics["prevalence"] == pytest.approx(prevalence, abs=1e-3)
    assert metrics["oracle_auc"] is None  # real data has no ground truth: no ceiling is invented


def test_apnea_notebook_on_a_sleep_edf_folder(tmp_path):
    import edfio

    folder = write_sleep_edf(tmp_path / "sleep-edf", hours=1.5, n_records=2)
    hyp = edfio.read_edf(folder / "SC4001EC-Hypnogram.edf")
    psg = edfio.read_edf(folder / "SC4001E0-PSG.edf")
    length_s = psg.num_data_records * psg.data_record_duration
    sleep_s = sum(min(a.onset + a.duration, length_s) - a.onset for a in hyp.annotations
                  if a.text in ("Sleep stage 1", "Sleep stage 2", "Sleep stage 3", "Sleep stage R"))
    metrics = _run("course/03_apnea/01_polysomnography_with_mne.ipynb", folder, tmp_path / "out")
    assert metrics["total_sleep_time_h"] == pytest.approx(sleep_s / 3600, abs=0.01)
    assert metrics["sleep_efficiency"] == pytest.approx(sleep_s / length_s, abs=0.002)


# Unscored nights in each documented layout, with every optional part left out: no hypnogram, no scored
# events, no annotation files. The flat folder's first night is a home sleep test (no EEG) named ``.rec``.
@pytest.mark.parametrize("layout", ["flat", "shhs", "sleep-edf"])
def test_apnea_notebook_on_unscored_nights(tmp_path, layout):
    from medai_lib.apnea import list_psg_recordings, read_psg, score_psg

    if layout == "sleep-edf":
        folder = write_sleep_edf(tmp_path / layout, hours=1.0, n_records=1, with_hypnogram=False)
    else:
        folder = write_unscored_psg_folder(tmp_path / layout, layout=layout, hours=1.0)
    notebook = "course/03_apnea/01_polysomnography_with_mne.ipynb"
    metrics = _run(notebook, folder, tmp_path / "out")
    assert metrics["total_sleep_time_h"] is None and metrics["sleep_efficiency"] is None  # nothing invented
    printed = _printed(tmp_path / "out", notebook)
    first = list_psg_recordings(folder).iloc[0]
    if layout == "sleep-edf":  # no SpO2 or effort belts: nothing to score
        assert "n_scored_events" not in metrics and "events cannot be scored" in printed
        assert "epochs of 30 s: {'unstaged'" in printed
        return
    rec = read_psg(first["psg_path"])
    assert metrics["n_scored_events"] == len(score_psg(rec.signals, rec.sfreq).events) > 0
    if layout == "flat":
        assert first["psg_path"].suffix == ".rec"
        assert "no EEG channel" in printed
    else:
        assert "epochs of 30 s: {'unstaged'" in printed


def test_cancer_notebook_on_a_genotype_folder(tmp_path):
    folder = write_genotype_folder(tmp_path / "study", n_people=400)
    assert sorted(p.name for p in folder.iterdir()) == ["genotypes.vcf.gz", "phenotypes.csv"]
    metrics = _run("course/04_cancer/01_genotypes_and_qc.ipynb", folder, tmp_path / "out")
    assert 300 <= metrics["n_people_after_qc"] <= 400
    assert 0 < metrics["n_variants_after_qc"] < 5000  # the folder's two small chromosomes, not the sample cohort


# A genotype study whose genetic ancestry groups carry their own labels (gnomAD-style), not the sample
# cohort's group_A / group_B: the cancer notebooks take them as TRAIN_GROUP / OTHER_GROUP.
GROUPS = {"group_A": "nfe", "group_B": "afr"}


@pytest.fixture(scope="module")
def labelled_genotype_folder(tmp_path_factory):
    # 1,000 people: enough cases in every split of "nfe" (about 20 in its test split) and in the held-out
    # half of "afr" that recalibration leaves; each notebook still runs in seconds.
    folder = write_genotype_folder(tmp_path_factory.mktemp("labelled") / "study", n_people=1000,
                                   group_names=GROUPS)
    assert sorted(p.name for p in folder.iterdir()) == ["genotypes.vcf.gz", "phenotypes.csv"]
    return folder


def _printed(out, notebook: str) -> str:
    """Everything the executed notebook printed (stdout streams)."""
    nb = nbformat.read(out / notebook, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")


def test_polygenic_risk_notebook_on_a_folder_with_its_own_group_labels(labelled_genotype_folder, tmp_path):
    notebook = "course/04_cancer/03_polygenic_risk.ipynb"
    metrics = _run(notebook, labelled_genotype_folder, tmp_path / "out", TRAIN_GROUP="nfe", OTHER_GROUP="afr")
    # Recorded names keep the sample cohort's labels (group_A = TRAIN_GROUP, group_B = OTHER_GROUP).
    for name in ("auc", "baseline_auc", "auc_local_prs", "auc_group_B", "prs_auc_group_A", "prs_auc_group_B"):
        assert isinstance(metrics[name], float) and 0.0 < metrics[name] < 1.0, (name, metrics[name])
    # No summary statistics in the folder: the local PRS is the score (no published one), and no ground truth:
    # no oracle.
    assert metrics["auc"] == metrics["auc_local_prs"]
    assert metrics.get("oracle_auc") is None
    assert not any(name.startswith("gap_to_oracle") for name in metrics)
    # "afr" has a higher cancer rate than "nfe" in this folder: a model fitted in "nfe" underestimates its
    # risks, and recalibration on half of "afr" brings the calibration intercept towards 0.
    before = metrics["group_B_calibration_intercept_before"]
    after = metrics["group_B_calibration_intercept_after"]
    assert before > 0 and abs(after) < abs(before)
    printed = _printed(tmp_path / "out", notebook)
    assert "AUC of clinical only: nfe " in printed and ", afr " in printed
    # The expected-R2 table needs the simulator's heritability and genome: not drawn for a real folder.
    assert "the table is drawn for the synthetic cohort only" in printed


def test_survival_notebook_on_a_folder_with_its_own_group_labels(labelled_genotype_folder, tmp_path):
    notebook = "course/04_cancer/04_survival_and_communicating_risk.ipynb"
    metrics = _run(notebook, labelled_genotype_folder, tmp_path / "out", TRAIN_GROUP="nfe")
    assert 0.5 < metrics["c_index"] < 1.0
    assert metrics["hazard_ratio_prs_per_sd"] > 1.0
    assert 0.0 < metrics["ten_year_risk_p50"] < metrics["ten_year_risk_p99"] < 1.0
    # The survival cohort is the "nfe" people outside the GWAS training split (60% of them, less QC losses).
    n_nfe = int((pd.read_csv(labelled_genotype_folder / "phenotypes.csv")["ancestry_group"] == "nfe").sum())
    n = int(re.search(r"^([\d,]+) people, \d+ diagnosed", _printed(tmp_path / "out", notebook), re.M)
            .group(1).replace(",", ""))
    assert 0.5 * n_nfe <= n <= 0.6 * n_nfe + 2


def test_polygenic_risk_notebook_names_a_wrong_group_parameter(labelled_genotype_folder, tmp_path):
    result = _execute("course/04_cancer/03_polygenic_risk.ipynb", labelled_genotype_folder, tmp_path / "out",
                      {"TRAIN_GROUP": "nosuch", "OTHER_GROUP": "afr"})
    assert result["status"] == "failed" and result["returncode"] != 0
    message = result["error"]["evalue"]
    assert "TRAIN_GROUP" in message and "'nosuch'" in message and "['afr', 'nfe']" in message


# A study folder with genotypes and the least a notebook can use: no genetic ancestry groups, no clinical
# covariates, no summary statistics or gene-panel list. 4.1 to 4.3 need case status only; 4.4 also needs the
# age at diagnosis or at the end of follow-up (event_age).
@pytest.fixture(scope="module")
def minimal_genotype_folder(tmp_path_factory):
    folder = write_genotype_folder(tmp_path_factory.mktemp("minimal") / "study", n_people=800,
                                   keep_columns=("case", "event_age"))
    assert list(pd.read_csv(folder / "phenotypes.csv").columns) == ["sample_id", "case", "event_age"]
    return folder


def _warned(out, notebook: str) -> str:
    nb = nbformat.read(out / notebook, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stderr")


@pytest.mark.parametrize("notebook", ["01_genotypes_and_qc", "02_ancestry_and_gwas"])
def test_qc_and_gwas_notebooks_run_without_ancestry_groups(minimal_genotype_folder, tmp_path, notebook):
    path = f"course/04_cancer/{notebook}.ipynb"
    metrics = _run(path, minimal_genotype_folder, tmp_path / "out")
    assert "no 'ancestry_group' column" in _warned(tmp_path / "out", path)
    if notebook.startswith("01"):
        # one group: the "within groups" test is the pooled one
        assert metrics["hwe_flagged_within"] == metrics["hwe_flagged_pooled"]
        assert 0 < metrics["n_variants_after_qc"] < 5000
    else:
        assert metrics["lambda_pc_corrected"] > 0 and metrics["n_hits_pc_corrected"] >= 0


def test_polygenic_risk_notebook_runs_on_genotypes_and_case_status_only(minimal_genotype_folder, tmp_path):
    notebook = "course/04_cancer/03_polygenic_risk.ipynb"
    metrics = _run(notebook, minimal_genotype_folder, tmp_path / "out")
    # PRS-only route: no clinical model, no second group, no published score, no oracle
    assert 0.0 < metrics["auc"] < 1.0 and metrics["auc"] == metrics["auc_local_prs"]
    for absent in ("baseline_auc", "auc_group_B", "group_B_calibration_intercept_before", "oracle_auc"):
        assert absent not in metrics, absent
    printed = _printed(tmp_path / "out", notebook)
    assert "Clinical factors in the model: none (PRS-only models)" in printed
    assert "no second group to recalibrate for" in printed


def test_survival_notebook_runs_without_groups_or_covariates(minimal_genotype_folder, tmp_path):
    notebook = "course/04_cancer/04_survival_and_communicating_risk.ipynb"
    metrics = _run(notebook, minimal_genotype_folder, tmp_path / "out")
    assert metrics["hazard_ratio_prs_per_sd"] > 0 and 0.0 < metrics["c_index"] < 1.0
    assert "clinical factors: none" in _printed(tmp_path / "out", notebook)


def test_survival_notebook_names_a_missing_event_age(tmp_path):
    folder = write_genotype_folder(tmp_path / "study", n_people=200, keep_columns=("case",))
    result = _execute("course/04_cancer/04_survival_and_communicating_risk.ipynb", folder, tmp_path / "out", {})
    assert result["status"] == "failed"
    message = result["error"]["evalue"]
    assert "phenotypes.csv" in message and "['event_age']" in message and "survival analysis" in message
