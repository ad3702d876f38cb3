"""Loaders for real sleep recordings on disk (``DATA_DIR``): Sleep-EDF, SHHS-like NSRR folders, Apnea-ECG.

Nothing is downloaded. Expected layouts
---------------------------------------
Sleep-EDF (PhysioNet sleep-edfx), any depth below ``DATA_DIR``::

    SC4001E0-PSG.edf        SC4001EC-Hypnogram.edf     (pairs share the first 7 characters)

SHHS / NSRR-style::

    edfs/shhs1/shhs1-200001.edf
    annotations-events-nsrr/shhs1/shhs1-200001-nsrr.xml

Flat EDF+ folder (what :func:`medai_lib.apnea.write_psg_edf` writes): ``*.edf`` (or ``*.rec``) with
annotations inside, or without any (no hypnogram, no scored events: a home test or a plain export).

PhysioNet Apnea-ECG::

    a01.dat  a01.hea  a01.apn      (one ``.apn`` label per minute: ``A`` apnea, ``N`` normal)
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError


#: File name endings of EDF recordings (``.rec`` is a common name for the same format).
EDF_SUFFIXES = (".edf", ".rec")


def _data_dir(data_dir: "str | os.PathLike") -> Path:
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise MedaiInputError(f"data_dir {path} is not a folder; pass the folder that holds the recordings.")
    return path


def list_psg_recordings(data_dir: "str | os.PathLike", *, layout: str = "auto") -> pd.DataFrame:
    """List the PSG recordings under ``data_dir`` with their annotation files.

    Parameters
    ----------
    data_dir : path-like
    layout : {"auto", "sleep-edf", "shhs", "flat"}, default "auto"
        See the module docstring; ``auto`` tries them in that order.

    Returns
    -------
    pandas.DataFrame
        ``record, psg_path, annotations_path`` (None when annotations are inside the EDF+).

    Examples
    --------
    >>> list_psg_recordings("/data/sleep-edf")  # doctest: +SKIP
    """
    root = _data_dir(data_dir)
    layouts = ("sleep-edf", "shhs", "flat") if layout == "auto" else (layout,)
    for lay in layouts:
        if lay == "sleep-edf":
            psgs = sorted(root.rglob("*-PSG.edf"))
            hyps = {p.name[:7]: p for p in root.rglob("*-Hypnogram.edf")}
            rows = [(p.name[:7], p, hyps.get(p.name[:7])) for p in psgs]
        elif lay == "shhs":
            edfs = sorted(p for p in root.glob("edfs/*/*") if p.suffix.lower() in EDF_SUFFIXES)
            rows = []
            for p in edfs:
                xml = root / "annotations-events-nsrr" / p.parent.name / f"{p.stem}-nsrr.xml"
                rows.append((p.stem, p, xml if xml.is_file() else None))
        elif lay == "flat":
            rows = [(p.stem, p, None) for p in sorted(root.iterdir())
                    if p.is_file() and p.suffix.lower() in EDF_SUFFIXES]
        else:
            raise MedaiInputError(f"layout must be 'auto', 'sleep-edf', 'shhs' or 'flat'; got {layout!r}.")
        if rows:
            return pd.DataFrame(rows, columns=["record", "psg_path", "annotations_path"])
    raise MedaiInputError(
        f"no PSG recordings found in {root} (layouts tried: {list(layouts)}). Expected Sleep-EDF "
        "'*-PSG.edf' + '*-Hypnogram.edf', SHHS 'edfs/<visit>/<name>.edf', or '*.edf' / '*.rec' files."
    )


def read_nsrr_annotations(path: "str | os.PathLike") -> pd.DataFrame:
    """Read an NSRR ``*-nsrr.xml`` annotation file (SHHS, MESA...).

    Returns
    -------
    pandas.DataFrame
        ``onset_s, duration_s, description`` with ``description`` the NSRR ``EventConcept``
        (e.g. ``"Obstructive apnea|Obstructive Apnea"``, ``"Stage 2 sleep|2"``).

    Examples
    --------
    >>> read_nsrr_annotations("shhs1-200001-nsrr.xml")  # doctest: +SKIP
    """
    path = Path(path)
    try:
        tree = ET.parse(path)
    except (ET.ParseError, OSError) as exc:
        raise MedaiInputError(f"{path} is not a readable NSRR XML file: {exc}.") from exc
    rows = []
    for ev in tree.getroot().iter("ScoredEvent"):
        concept = (ev.findtext("EventConcept") or "").strip()
        try:
            onset = float(ev.findtext("Start") or "nan")
            dur = float(ev.findtext("Duration") or "0")
        except ValueError as exc:
            raise MedaiInputError(f"{path}: event {concept!r} has a non-numeric Start/Duration.") from exc
        if concept.lower().startswith("recording start time"):
            continue
        rows.append((onset, dur, concept))
    return pd.DataFrame(rows, columns=["onset_s", "duration_s", "description"])


@dataclass(frozen=True)
class ApneaECGRecord:
    """One PhysioNet Apnea-ECG record.

    Attributes
    ----------
    record : str
    ecg : ndarray, float32, shape (n_samples,)
        Single-lead ECG in mV.
    sfreq : float
        100 Hz in the public database.
    minute_labels : pandas.DataFrame
        ``minute, apnea`` (bool), one row per minute; empty for unlabelled records.
    """

    record: str
    ecg: np.ndarray
    sfreq: float
    minute_labels: pd.DataFrame


def list_apnea_ecg_records(data_dir: "str | os.PathLike") -> list[str]:
    """Record names (``a01``, ``b02``...) of the Apnea-ECG files in ``data_dir``."""
    root = _data_dir(data_dir)
    names = sorted(p.stem for p in root.glob("*.hea") if (root / f"{p.stem}.dat").is_file())
    if not names:
        raise MedaiInputError(f"no Apnea-ECG records ('*.hea' + '*.dat') in {root}.")
    return names


def read_apnea_ecg(data_dir: "str | os.PathLike", record: str) -> ApneaECGRecord:
    """Read one Apnea-ECG record and its per-minute apnea labels with ``wfdb``.

    Examples
    --------
    >>> rec = read_apnea_ecg("/data/apnea-ecg", "a01")  # doctest: +SKIP
    >>> rec.minute_labels["apnea"].mean()  # doctest: +SKIP
    """
    import wfdb

    root = _data_dir(data_dir)
    base = root / record
    if not (base.with_suffix(".hea")).is_file():
        raise MedaiInputError(
            f"{base}.hea not found; records in {root}: {list_apnea_ecg_records(root)[:10]}."
        )
    try:
        rec = wfdb.rdrecord(str(base))
    except Exception as exc:  # noqa: BLE001
        raise MedaiInputError(
            f"could not read Apnea-ECG record {base}: {exc}. The file may be truncated."
        ) from exc
    if rec.p_signal is None or rec.p_signal.shape[1] < 1:
        raise MedaiInputError(f"{base}.dat holds no signal.")
    labels = pd.DataFrame({"minute": pd.Series([], dtype=int), "apnea": pd.Series([], dtype=bool)})
    if base.with_suffix(".apn").is_file():
        ann = wfdb.rdann(str(base), "apn")
        minute = (np.asarray(ann.sample) / rec.fs // 60).astype(int)
        labels = pd.DataFrame({"minute": minute, "apnea": np.asarray(ann.symbol) == "A"})
    return ApneaECGRecord(record=record, ecg=rec.p_signal[:, 0].astype(np.float32), sfreq=float(rec.fs),
                          minute_labels=labels)
