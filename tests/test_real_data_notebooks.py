"""One notebook per track runs on a folder in its public dataset's layout (``DATA_DIR``), the way a researcher
runs the course on their own copy of ChestX-ray14, Sleep-EDF or a genotype study: same command, same
code path, no ground truth available. The recorded metrics must come from the folder, not from the
synthetic sample data."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import run_medai
from real_data_fixtures import write_chestxray14, write_genotype_folder, write_sleep_edf


def _run(notebook: str, data_dir, out) -> dict:
    proc = run_medai("run", notebook, "--quick", "-p", "DATA_DIR", str(data_dir), "--out", str(out),
                     "--timeout", "600")
    summary_path = out / "summary.json"
    assert summary_path.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(summary_path.read_text())["results"][0]
    assert proc.returncode == 0 and result["status"] == "ok", (
        f"{notebook} failed on a DATA_DIR folder: {result.get('error')}\n{proc.stdout[-2000:]}"
    )
    assert result["parameters"]["DATA_DIR"] == str(data_dir)
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


def test_cancer_notebook_on_a_genotype_folder(tmp_path):
    folder = write_genotype_folder(tmp_path / "study", n_people=400)
    assert sorted(p.name for p in folder.iterdir()) == ["genotypes.vcf.gz", "phenotypes.csv"]
    metrics = _run("course/04_cancer/01_genotypes_and_qc.ipynb", folder, tmp_path / "out")
    assert 300 <= metrics["n_people_after_qc"] <= 400
    assert 0 < metrics["n_variants_after_qc"] < 5000  # the folder's two small chromosomes, not the sample cohort
