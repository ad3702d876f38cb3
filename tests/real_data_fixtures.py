"""Small folders in the layouts of the public datasets each track reads through ``DATA_DIR``.

They hold synthetic content (so the tests need no download) written exactly as the public releases lay it
out, and nothing else: no manifest, no lung masks, no ground truth. A notebook run on them goes through
the same code path as a user's copy of the real dataset.

- ``write_chestxray14``: NIH ChestX-ray14 (``Data_Entry_2017.csv`` + ``images_NNN/images/*.png``, 8-bit
  PNGs, PA and AP views, multi-label findings separated by ``|``).
- ``write_sleep_edf``: Sleep-EDF Expanded, sleep-cassette (``SC4ssNE0-PSG.edf`` with EEG Fpz-Cz / Pz-Oz
  and horizontal EOG at 100 Hz, oro-nasal respiration, submental EMG and rectal temperature at 1 Hz, plus
  ``SC4ssNEC-Hypnogram.edf`` with R&K stages as EDF+ annotations).
- ``write_unscored_psg_folder``: unscored EDF+ nights (no hypnogram, no events) in the flat or SHHS layout,
  one of them a home test (no EEG) named ``.rec``.
- ``write_genotype_folder``: a study folder with ``genotypes.vcf.gz`` and ``phenotypes.csv`` only.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

FINDINGS = ("Fibrosis", "Fibrosis|Effusion", "No Finding", "Atelectasis", "Cardiomegaly|Effusion", "No Finding")


def write_chestxray14(folder, *, n_patients: int = 24, image_size: int = 256, random_state: int = 0) -> Path:
    """Write a miniature ChestX-ray14 release; returns the folder (the one to pass as ``DATA_DIR``)."""
    from PIL import Image

    from medai_lib.fibrosis import make_fibrosis_cohort

    folder = Path(folder)
    cohort = make_fibrosis_cohort(n_patients, image_size=image_size, random_state=random_state)
    m = cohort.manifest
    rng = np.random.default_rng(random_state)
    rows = []
    for i, row in m.reset_index(drop=True).iterrows():
        pid = int(str(row["patient_id"]).split("-")[-1]) if str(row["patient_id"]).split("-")[-1].isdigit() \
            else i // 2 + 1
        name = f"{pid:08d}_{int(row['visit']):03d}.png"
        if row["label"] == 1:
            finding = "Fibrosis" if rng.random() < 0.7 else "Fibrosis|Effusion"
        else:
            finding = str(rng.choice(["No Finding", "No Finding", "Atelectasis", "Cardiomegaly|Effusion"]))
        view = "AP" if i % 11 == 5 else "PA"  # a few AP films, which the loader leaves out
        pixels = np.clip(np.round(cohort.images[i] * 255.0), 0, 255).astype(np.uint8)
        sub = folder / f"images_{1 + i // 20:03d}" / "images"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(sub / name)
        rows.append({"Image Index": name, "Finding Labels": finding, "Follow-up #": int(row["visit"]),
                     "Patient ID": pid, "Patient Age": int(round(float(row["age"]))),
                     "Patient Gender": "M" if row["sex"] == "male" else "F", "View Position": view,
                     "OriginalImage[Width": 2500, "Height]": 2048,
                     "OriginalImagePixelSpacing[x": 0.143, "y]": 0.143})
    pd.DataFrame(rows).to_csv(folder / "Data_Entry_2017.csv", index=False)
    return folder


def write_sleep_edf(folder, *, hours: float = 1.5, n_records: int = 2, random_state: int = 0,
                    with_hypnogram: bool = True) -> Path:
    """Write ``n_records`` sleep-cassette recordings in the Sleep-EDF layout; returns the folder.

    ``with_hypnogram=False`` leaves out the ``*-Hypnogram.edf`` files (recordings not yet staged)."""
    import edfio

    from medai_lib.apnea import make_night

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rk = {"W": "Sleep stage W", "N1": "Sleep stage 1", "N2": "Sleep stage 2", "N3": "Sleep stage 3",
          "R": "Sleep stage R"}
    for k in range(n_records):
        night = make_night(hours=hours, target_ahi=5.0 + 20.0 * k, subject_id=f"SC40{k}1",
                           random_state=random_state + k)
        n_sec = int(night.duration_s)

        def at(channel, rate):
            x = np.asarray(night.signals[channel], dtype=float)
            t_src = np.arange(len(x)) / night.sfreq[channel]
            return np.interp(np.arange(int(n_sec * rate)) / rate, t_src, x)

        rng = np.random.default_rng(random_state + k)
        signals = [
            edfio.EdfSignal(at("eeg", 100), 100, label="EEG Fpz-Cz", physical_dimension="uV"),
            edfio.EdfSignal(0.7 * at("eeg", 100) + rng.normal(0, 3, 100 * n_sec), 100, label="EEG Pz-Oz",
                            physical_dimension="uV"),
            edfio.EdfSignal(at("eog", 100), 100, label="EOG horizontal", physical_dimension="uV"),
            edfio.EdfSignal(at("flow", 1), 1, label="Resp oro-nasal"),
            edfio.EdfSignal(np.abs(at("emg", 1)), 1, label="EMG submental", physical_dimension="uV"),
            edfio.EdfSignal(37.0 + 0.1 * np.sin(np.arange(n_sec) / 3000), 1, label="Temp rectal",
                            physical_dimension="DegC"),
            edfio.EdfSignal(np.zeros(n_sec), 1, label="Event marker"),
        ]
        edfio.Edf(signals, patient=edfio.Patient(code=f"SC40{k}1", name="SYNTHETIC")
                  ).write(folder / f"SC40{k}1E0-PSG.edf")
        stages, start = [], 0.0
        hyp = list(night.hypnogram)
        i = 0
        while i < len(hyp):
            j = i
            while j < len(hyp) and hyp[j] == hyp[i]:
                j += 1
            stages.append(edfio.EdfAnnotation(start, (j - i) * night.epoch_s, rk[hyp[i]]))
            start += (j - i) * night.epoch_s
            i = j
        stages.append(edfio.EdfAnnotation(start, 30000.0, "Sleep stage ?"))  # as the release ends
        if with_hypnogram:
            edfio.Edf([], annotations=stages).write(folder / f"SC40{k}1EC-Hypnogram.edf")
    return folder


def write_unscored_psg_folder(folder, *, layout: str = "flat", hours: float = 1.0, random_state: int = 0) -> Path:
    """Write unscored nights (no hypnogram, no events, no arousals, no annotation files); returns the folder.

    ``layout="flat"``: ``HST-0001.rec``, a home sleep apnea test (flow, effort belts, SpO2, position; no EEG)
    with SHHS-style labels and the common ``.rec`` name, and ``PSG-0002.edf``, a full montage with AASM-style
    labels. ``layout="shhs"``: ``edfs/shhs1/shhs1-200001.edf`` (full montage, SHHS labels) and no
    ``annotations-events-nsrr`` folder.
    """
    import dataclasses as dc

    from medai_lib.apnea import make_night, write_psg_edf

    folder = Path(folder)
    home = ("flow", "thorax", "abdomen", "spo2", "position")
    full = home + ("eeg", "eog", "emg", "ecg")
    if layout == "flat":
        files = [(folder / "HST-0001.rec", home, "shhs", 25.0), (folder / "PSG-0002.edf", full, "aasm", 10.0)]
    elif layout == "shhs":
        files = [(folder / "edfs" / "shhs1" / "shhs1-200001.edf", full, "shhs", 25.0)]
    else:
        raise ValueError(f"layout must be 'flat' or 'shhs'; got {layout!r}")
    for k, (path, channels, labels, ahi) in enumerate(files):
        night = make_night(hours=hours, target_ahi=ahi, channels=channels, subject_id=path.stem,
                           random_state=random_state + k)
        bare = dc.replace(night, hypnogram=np.array([], dtype="<U2"), events=night.events.iloc[:0],
                          arousals=night.arousals.iloc[:0])
        path.parent.mkdir(parents=True, exist_ok=True)
        write_psg_edf(bare, path.with_suffix(".edf.tmp"), labels=labels)
        path.with_suffix(".edf.tmp").rename(path)
    return folder


def write_genotype_folder(folder, *, n_people: int = 400, random_state: int = 0,
                          group_names: dict | None = None, keep_columns=None) -> Path:
    """Write a study folder with only ``genotypes.vcf.gz`` and ``phenotypes.csv``; returns the folder.

    ``group_names`` renames the ``ancestry_group`` labels (e.g. ``{"group_A": "nfe", "group_B": "afr"}``,
    gnomAD-style), as a real study labels its genetic ancestry groups. ``keep_columns`` keeps only those
    phenotype columns (``sample_id`` always): e.g. ``("case",)`` for a study with case status only.
    """
    from medai_lib.cancer import LiabilityModel, make_cancer_cohort, write_cancer_cohort

    folder = Path(folder)
    cohort = make_cancer_cohort(n_people, n_chromosomes=2, chromosome_length=3e6,
                                model=LiabilityModel(n_causal=60, n_rare=1), random_state=random_state)
    if group_names:
        cohort.samples["ancestry_group"] = cohort.samples["ancestry_group"].replace(group_names)
    if keep_columns is not None:
        cohort = dataclasses.replace(cohort, samples=cohort.samples[["sample_id", *keep_columns]])
    write_cancer_cohort(cohort, folder)
    for path in folder.iterdir():
        if path.name not in ("genotypes.vcf.gz", "phenotypes.csv"):
            path.unlink()
    return folder
