"""EDF/EDF+ polysomnography I/O: write synthetic nights, read real or synthetic recordings via MNE.

Channels keep their native sampling rates: MNE resamples every channel it reads to the highest rate
among them, so each rate group is read separately and only the channels needed are read at all.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from medai_lib.errors import MedaiInputError

logger = logging.getLogger(__name__)

#: Labels tried for each channel, in order (compared case-insensitively, spaces ignored).
CHANNEL_ALIASES: Mapping[str, tuple[str, ...]] = {
    "flow": ("Flow", "AIRFLOW", "Airflow", "Nasal Pressure", "NASAL PRES", "PFLOW", "NPRE", "New Air",
             "NEW AIR", "Pressure", "Resp nasal", "Resp oro-nasal", "Nasal"),
    "thorax": ("Thor", "THOR RES", "Thorax", "Chest", "Effort THO", "RIP Thora", "Resp thoracic"),
    "abdomen": ("Abdo", "ABDO RES", "Abdomen", "ABD", "Effort ABD", "RIP Abdom", "Resp abdominal"),
    "spo2": ("SpO2", "SaO2", "SAO2", "SPO2", "Oxygen saturation", "OSat", "Sat"),
    "eeg": ("C4-M1", "C4-A1", "EEG C4-A1", "EEG", "C3-M2", "C3-A2", "EEG(sec)", "EEG Fpz-Cz", "Fpz-Cz"),
    "eog": ("E1-M2", "EOG(L)", "LOC", "E1", "EOG horizontal", "EOG"),
    "emg": ("Chin", "Chin1-Chin2", "EMG", "EMG chin", "EMG submental", "CHIN"),
    "ecg": ("ECG", "EKG", "ECG II", "ECG1"),
    "position": ("Position", "POSITION", "Body", "Pos", "Body position"),
}
_WRITE_LABELS = {
    "aasm": {"eeg": "C4-M1", "eog": "E1-M2", "emg": "Chin", "ecg": "ECG", "flow": "Flow", "thorax": "Thor",
             "abdomen": "Abdo", "spo2": "SpO2", "position": "Position"},
    "shhs": {"eeg": "EEG", "eog": "EOG(L)", "emg": "EMG", "ecg": "ECG", "flow": "AIRFLOW",
             "thorax": "THOR RES", "abdomen": "ABDO RES", "spo2": "SaO2", "position": "POSITION"},
}
_UNITS = {"eeg": "uV", "eog": "uV", "emg": "uV", "ecg": "mV", "spo2": "%"}
_SCALE_TO_NATIVE = {"uv": 1e6, "µv": 1e6, "mv": 1e3, "v": 1.0}
_MIN_RATE = {"flow": 8.0, "thorax": 8.0, "abdomen": 8.0, "spo2": 0.5, "eeg": 50.0, "eog": 20.0, "emg": 50.0,
             "ecg": 50.0, "position": 0.01}

STAGE_ANNOTATIONS = {
    "sleep stage w": "W", "sleep stage n1": "N1", "sleep stage 1": "N1", "sleep stage n2": "N2",
    "sleep stage 2": "N2", "sleep stage n3": "N3", "sleep stage 3": "N3", "sleep stage 4": "N3",
    "sleep stage r": "R", "sleep stage rem": "R", "sleep stage ?": "?", "movement time": "?",
    "wake|0": "W", "stage 1 sleep|1": "N1", "stage 2 sleep|2": "N2", "stage 3 sleep|3": "N3",
    "stage 4 sleep|4": "N3", "rem sleep|5": "R", "unscored|9": "?", "movement|6": "?",
}
EVENT_ANNOTATIONS = {
    "obstructive apnea": "obstructive_apnea", "central apnea": "central_apnea", "mixed apnea": "mixed_apnea",
    "hypopnea": "hypopnea", "obstructive apnea|obstructive apnea": "obstructive_apnea",
    "central apnea|central apnea": "central_apnea", "mixed apnea|mixed apnea": "mixed_apnea",
    "hypopnea|hypopnea": "hypopnea", "obstructive hypopnea": "hypopnea", "central hypopnea": "hypopnea",
    "apnea": "obstructive_apnea",
}
AROUSAL_ANNOTATIONS = ("arousal", "eeg arousal", "arousal|arousal ()", "arousal|arousal",
                       "asda arousal|arousal (asda)")
_STAGE_TEXT = {"W": "Sleep stage W", "N1": "Sleep stage N1", "N2": "Sleep stage N2", "N3": "Sleep stage N3",
               "R": "Sleep stage R"}
_EVENT_TEXT = {"obstructive_apnea": "Obstructive apnea", "central_apnea": "Central apnea",
               "mixed_apnea": "Mixed apnea", "hypopnea": "Hypopnea"}


@dataclass(frozen=True)
class EdfHeader:
    """What the EDF header says: labels, per-signal rates and units, length, patient field."""

    path: Path
    labels: tuple[str, ...]
    sfreq: tuple[float, ...]
    units: tuple[str, ...]
    n_records: int
    record_duration_s: float
    patient: str
    recording: str

    @property
    def duration_s(self) -> float:
        return self.n_records * self.record_duration_s


@dataclass(frozen=True)
class PSGRecording:
    """A polysomnography recording read from disk, channels at their native rates.

    Attributes
    ----------
    signals : dict of str to ndarray, float32, shape (n_samples_channel,)
        Canonical channel names (``flow``, ``thorax``, ``abdomen``, ``spo2``, ``eeg``, ``emg``...).
    sfreq : dict of str to float
    labels : dict of str to str
        The file's label for each canonical channel.
    hypnogram : ndarray of str, shape (n_epochs,)
        ``W, N1, N2, N3, R`` or ``?``; empty if the recording has no staging.
    epoch_s : float
    events : pandas.DataFrame
        Scored respiratory events found in the annotations: ``onset_s, duration_s, type``.
    arousals : pandas.DataFrame
        ``onset_s, duration_s``.
    annotations : pandas.DataFrame
        All annotations: ``onset_s, duration_s, description``.
    path : pathlib.Path
    patient : str
        The EDF patient field (synthetic files contain ``SYNTHETIC``).
    duration_s : float
    """

    signals: dict
    sfreq: dict
    labels: dict
    hypnogram: np.ndarray
    epoch_s: float
    events: pd.DataFrame
    arousals: pd.DataFrame
    annotations: pd.DataFrame
    path: Path
    patient: str
    duration_s: float
    extra: dict = field(default_factory=dict, repr=False)


# --------------------------------------------------------------------------------------------------
def read_edf_header(path: "str | os.PathLike") -> EdfHeader:
    """Read the header of an EDF/EDF+ file (no signal data) and check the file is complete.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    EdfHeader

    Raises
    ------
    MedaiInputError
        If the file is missing, not EDF, or shorter than its header promises (truncated).

    Examples
    --------
    >>> hdr = read_edf_header("night.edf")  # doctest: +SKIP
    >>> dict(zip(hdr.labels, hdr.sfreq))  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise MedaiInputError(f"EDF file {path} does not exist; check the path (and DATA_DIR).")
    size = path.stat().st_size
    with open(path, "rb") as fid:
        head = fid.read(256)
        if len(head) < 256 or head[:8].strip() not in (b"0",):
            raise MedaiInputError(f"{path} is not an EDF file (bad or short 256-byte header); export it as EDF "
                                  "or EDF+ from the acquisition software.")
        try:
            patient = head[8:88].decode("latin-1").strip()
            recording = head[88:168].decode("latin-1").strip()
            header_bytes = int(head[184:192])
            n_records = int(head[236:244])
            record_duration = float(head[244:252])
            ns = int(head[252:256])
            rest = fid.read(ns * 256)
            if len(rest) < ns * 256:
                raise ValueError("signal header cut short")

            def field_(offset: int, width: int) -> list[str]:
                return [rest[offset + i * width: offset + (i + 1) * width].decode("latin-1").strip()
                        for i in range(ns)]

            labels = field_(0, 16)
            units = field_(ns * 96, 8)
            n_samps = [int(v) for v in field_(ns * 216, 8)]
        except ValueError as exc:
            raise MedaiInputError(f"{path} has a corrupt EDF header ({exc}); re-export the file.") from exc
    record_bytes = 2 * sum(n_samps)
    if n_records < 0:  # unknown count, allowed by EDF while recording
        n_records = (size - header_bytes) // max(record_bytes, 1)
    expected = header_bytes + n_records * record_bytes
    if size < expected:
        have = (size - header_bytes) / max(record_bytes, 1) * record_duration
        raise MedaiInputError(
            f"{path} is truncated: the header promises {n_records} records "
            f"({n_records * record_duration:.0f} s, {expected} bytes) but the file has {size} bytes "
            f"(about {max(have, 0):.0f} s). Copy the file again or re-export it from the acquisition "
            "software."
        )
    sfreq = tuple(n / record_duration if record_duration > 0 else 0.0 for n in n_samps)
    return EdfHeader(path=path, labels=tuple(labels), sfreq=sfreq, units=tuple(units), n_records=n_records,
                     record_duration_s=record_duration, patient=patient, recording=recording)


def _norm(label: str) -> str:
    return re.sub(r"\s+", "", label).lower()


def match_channels(labels: Sequence[str], channels: Sequence[str], *, optional: Sequence[str] = (),
                   path: "str | os.PathLike | None" = None) -> dict[str, str]:
    """Map canonical channel names to file labels using :data:`CHANNEL_ALIASES`.

    Returns ``{canonical: label}`` for each required channel and each optional channel found;
    raises :class:`MedaiInputError` naming every missing required channel and the labels tried.

    Examples
    --------
    >>> match_channels(["AIRFLOW", "THOR RES", "ABDO RES", "SaO2"], ["flow", "spo2"])
    {'flow': 'AIRFLOW', 'spo2': 'SaO2'}
    """
    lookup = {_norm(lab): lab for lab in labels}
    found, missing = {}, []
    for ch in list(channels) + [c for c in optional if c not in channels]:
        if ch not in CHANNEL_ALIASES:
            raise MedaiInputError(f"unknown channel {ch!r}; choose from {sorted(CHANNEL_ALIASES)}.")
        hit = next((lookup[_norm(a)] for a in CHANNEL_ALIASES[ch] if _norm(a) in lookup), None)
        if hit is not None:
            found[ch] = hit
        elif ch in channels:
            missing.append(ch)
    if missing:
        where = f"{path} " if path is not None else ""
        tried = "; ".join(f"{ch}: {list(CHANNEL_ALIASES[ch])}" for ch in missing)
        raise MedaiInputError(
            f"{where}is missing required channel(s) {missing}. Labels tried: {tried}. The file has "
            f"{list(labels)}. Rename the channel in the file, or add its label to "
            "medai_lib.apnea.edf.CHANNEL_ALIASES."
        )
    return found


# --------------------------------------------------------------------------------------------------
def write_psg_edf(
    night,
    path: "str | os.PathLike",
    *,
    labels: str = "aasm",
    overwrite: bool = False,
) -> Path:
    """Write a night to EDF+ with its hypnogram, scored events and arousals as annotations.

    Each channel keeps its own sampling rate (1-s data records), as in clinical recordings. The
    patient field says ``SYNTHETIC`` for synthetic nights.

    Parameters
    ----------
    night : Night
        A night from :func:`make_night` (or anything with ``signals``, ``sfreq``, ``hypnogram``,
        ``epoch_s``, ``events``, ``arousals``, ``subject_id``).
    path : path-like
        Output ``.edf`` file.
    labels : {"aasm", "shhs"}, default "aasm"
        Channel naming: AASM style (``Flow``, ``Thor``, ``Abdo``, ``SpO2``...) or SHHS style
        (``AIRFLOW``, ``THOR RES``, ``ABDO RES``, ``SaO2``...).
    overwrite : bool, default False

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from medai_lib.apnea import make_night
    >>> night = make_night(hours=0.5, random_state=0)
    >>> write_psg_edf(night, "night.edf", overwrite=True)  # doctest: +SKIP
    """
    from edfio import Edf, EdfAnnotation, EdfSignal, Patient, Recording

    if labels not in _WRITE_LABELS:
        raise MedaiInputError(f"labels must be one of {sorted(_WRITE_LABELS)}; got {labels!r}.")
    path = Path(path)
    if path.exists() and not overwrite:
        raise MedaiInputError(f"{path} exists; pass overwrite=True to replace it.")
    names = _WRITE_LABELS[labels]
    signals = []
    for ch, x in night.signals.items():
        fs = float(night.sfreq[ch])
        data = np.asarray(x, dtype=np.float64)
        lo, hi = float(data.min()), float(data.max())
        if ch == "spo2":
            lo, hi = 0.0, 100.0
        elif ch == "position":
            lo, hi = 0.0, 4.0
        else:
            pad = 0.05 * (hi - lo) + 1e-3
            lo, hi = lo - pad, hi + pad
        signals.append(EdfSignal(data, fs, label=names.get(ch, ch)[:16],
                                 physical_dimension=_UNITS.get(ch, ""),
                                 physical_range=(round(lo, 3) - 0.001, round(hi, 3) + 0.001)))
    ann = []
    hyp = np.asarray(night.hypnogram)
    for i, st in enumerate(hyp):
        text = _STAGE_TEXT.get(str(st), "Sleep stage ?")
        ann.append(EdfAnnotation(float(i * night.epoch_s), float(night.epoch_s), text))
    events = night.events
    if "scored" in events:
        events = events[events["scored"]]
    for ev in events.itertuples(index=False):
        ann.append(EdfAnnotation(round(float(ev.onset_s), 3), round(float(ev.duration_s), 3),
                                 _EVENT_TEXT[ev.type]))
    for ar in night.arousals.itertuples(index=False):
        ann.append(EdfAnnotation(round(float(ar.onset_s), 3), round(float(ar.duration_s), 3), "Arousal"))
    code = re.sub(r"[^A-Za-z0-9_-]", "_", str(getattr(night, "subject_id", "X")))
    sex = str(getattr(night, "covariates", {}).get("sex", "X"))
    edf = Edf(signals,
              patient=Patient(code=code, sex=sex if sex in ("M", "F") else "X", name="SYNTHETIC",
                              additional=("SYNTHETIC",)),
              recording=Recording(startdate=dt.date(2020, 1, 1), equipment_code="medai_lib",
                                  additional=("SYNTHETIC",)),
              starttime=dt.time(22, 0, 0), data_record_duration=1.0, annotations=ann)
    tmp = path.with_name(path.name + ".part")
    edf.write(tmp)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------------
def _read_annotations(path: Path, duration_s: float, source: Path) -> pd.DataFrame:
    # edfio parses the EDF+ annotation signal record by record; mne.read_annotations scans the
    # whole file for TAL patterns, which is only safe for annotation-only files (Sleep-EDF hypnograms)
    import edfio
    import mne

    try:
        items = edfio.read_edf(path, lazy_load_data=True).annotations
        onset = [a.onset for a in items]
        dur = [a.duration or 0.0 for a in items]
        text = [a.text for a in items]
    except Exception as edfio_exc:  # noqa: BLE001 - fall back to MNE for annotation-only files
        hdr = read_edf_header(path)
        if any(lab != "EDF Annotations" for lab in hdr.labels):
            raise MedaiInputError(
                f"could not read annotations from {path}: {edfio_exc}. Check the file is EDF+."
            ) from edfio_exc
        try:
            ann = mne.read_annotations(path)
        except Exception as exc:  # noqa: BLE001
            raise MedaiInputError(
                f"could not read annotations from {path}: {exc}. Check the file is EDF+."
            ) from exc
        onset, dur, text = list(ann.onset), list(ann.duration), list(ann.description)
    ann = pd.DataFrame({"onset_s": onset, "duration_s": dur, "description": text})
    df = pd.DataFrame({"onset_s": ann["onset_s"].astype(float), "duration_s": ann["duration_s"].astype(float),
                       "description": ann["description"].astype(str)})
    bad = (df["onset_s"] < 0) | (df["onset_s"] + df["duration_s"] > duration_s + 1e-6)
    # Sleep-EDF hypnograms end with a long "?" epoch past the recording: clip those quietly
    stage = df["description"].str.lower().map(STAGE_ANNOTATIONS)
    bad &= ~(stage.isin(["?", "W"]) & (df["onset_s"] <= duration_s) & (df["onset_s"] >= 0))
    if bad.any():
        first = df[bad].iloc[0]
        raise MedaiInputError(
            f"{path} has {int(bad.sum())} annotation(s) outside the recording of {source} (0 to "
            f"{duration_s:.0f} s), e.g. {first.description!r} at {first.onset_s:.1f} s lasting "
            f"{first.duration_s:.1f} s. Check that the annotation file belongs to this recording."
        )
    return df


def _hypnogram_from(ann: pd.DataFrame, duration_s: float, epoch_s: float) -> np.ndarray:
    stage = ann["description"].str.lower().map(STAGE_ANNOTATIONS)
    sel = ann[stage.notna()].assign(stage=stage[stage.notna()])
    if sel.empty:
        return np.array([], dtype="<U2")
    n_epochs = int(duration_s // epoch_s)
    hyp = np.full(n_epochs, "?", dtype="<U2")
    for row in sel.itertuples(index=False):
        a = int(round(row.onset_s / epoch_s))
        b = int(round((row.onset_s + row.duration_s) / epoch_s))
        hyp[a:min(max(b, a + 1), n_epochs)] = row.stage
    return hyp


def _events_from(ann: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    desc = ann["description"].str.lower().str.strip()
    etype = desc.map(EVENT_ANNOTATIONS)
    known = etype.notna()
    events = ann[known][["onset_s", "duration_s"]].assign(type=etype[known]).reset_index(drop=True)
    arousals = ann[desc.isin(AROUSAL_ANNOTATIONS)][["onset_s", "duration_s"]].reset_index(drop=True)
    return events, arousals


def _read_raw_edf(path: Path, include: list[str]):
    """``mne.io.read_raw_edf`` for any file name: MNE accepts only the ``.edf`` suffix for a path, so
    an EDF stored under another name (``.rec`` is common) is handed over as an open file."""
    import mne

    if path.suffix.lower() == ".edf":
        return mne.io.read_raw_edf(path, include=include, preload=True, verbose="error")
    with open(path, "rb") as fh:
        return mne.io.read_raw_edf(fh, include=include, preload=True, verbose="error")


def read_psg(
    path: "str | os.PathLike",
    *,
    channels: Sequence[str] = ("flow", "thorax", "abdomen", "spo2"),
    optional_channels: Sequence[str] = ("eeg", "emg"),
    annotations_path: "str | os.PathLike | None" = None,
    epoch_s: float = 30.0,
) -> PSGRecording:
    """Read the channels needed from an EDF/EDF+ polysomnography file, at their native rates.

    Parameters
    ----------
    path : path-like
        The EDF or EDF+ recording.
    channels : sequence of str
        Required channels (canonical names, matched through :data:`CHANNEL_ALIASES`).
    optional_channels : sequence of str
        Read when present.
    annotations_path : path-like, optional
        A separate annotation file: a Sleep-EDF ``*-Hypnogram.edf`` or an NSRR ``*-nsrr.xml``.
        Without it, EDF+ annotations inside ``path`` are used.
    epoch_s : float, default 30.0

    Returns
    -------
    PSGRecording

    Raises
    ------
    MedaiInputError
        A missing required channel (named, with the labels tried), a channel sampled too slowly,
        respiratory channels at mixed rates, annotations outside the recording, a truncated file.

    Examples
    --------
    >>> rec = read_psg("night.edf")  # doctest: +SKIP
    >>> rec.sfreq  # doctest: +SKIP
    {'flow': 32.0, 'thorax': 32.0, 'abdomen': 32.0, 'spo2': 1.0, 'eeg': 100.0, 'emg': 100.0}
    """

    hdr = read_edf_header(path)
    found = match_channels(hdr.labels, channels, optional=optional_channels, path=hdr.path)
    index = {lab: i for i, lab in enumerate(hdr.labels)}
    rates = {ch: hdr.sfreq[index[lab]] for ch, lab in found.items()}
    for ch, fs in rates.items():
        if fs < _MIN_RATE.get(ch, 0):
            msg = (f"{hdr.path}: channel {found[ch]!r} ({ch}) is sampled at {fs:g} Hz, below the "
                   f"{_MIN_RATE[ch]:g} Hz needed.")
            if ch in channels:
                raise MedaiInputError(msg + " Use a recording with a faster channel for it.")
            logger.warning(msg + " Skipped.")
            del found[ch]
    resp = {ch: rates[ch] for ch in ("flow", "thorax", "abdomen") if ch in found}
    if len(set(resp.values())) > 1:
        listed = ", ".join(f"{found[c]} {f:g} Hz" for c, f in resp.items())
        raise MedaiInputError(
            f"{hdr.path}: respiratory channels have mixed sampling rates ({listed}); the scorer compares "
            "them breath by breath. Resample them to one rate (e.g. mne Raw.resample) and export again."
        )
    signals, sfreq = {}, {}
    groups: dict[float, list[str]] = {}
    for ch in found:
        groups.setdefault(rates[ch], []).append(ch)
    for fs, chs in groups.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                raw = _read_raw_edf(hdr.path, [found[c] for c in chs])
            except Exception as exc:  # noqa: BLE001
                raise MedaiInputError(
                    f"MNE could not read {hdr.path}: {exc}. The file may be corrupt."
                ) from exc
        data = raw.get_data()
        for ch in chs:
            i = raw.ch_names.index(found[ch])
            unit = hdr.units[index[found[ch]]].lower().replace("\u00b5", "µ")
            scale = _SCALE_TO_NATIVE.get(unit, 1.0)  # MNE returns volts; keep the file's own unit
            signals[ch] = (data[i] * scale).astype(np.float32)
            sfreq[ch] = float(raw.info["sfreq"])
    ann_file = Path(annotations_path) if annotations_path is not None else hdr.path
    if ann_file.suffix.lower() == ".xml":
        from medai_lib.apnea.realdata import read_nsrr_annotations
        ann = read_nsrr_annotations(ann_file)
        bad = (ann["onset_s"] < 0) | (ann["onset_s"] + ann["duration_s"] > hdr.duration_s + 1e-6)
        if bad.any():
            raise MedaiInputError(
                f"{ann_file} has {int(bad.sum())} annotation(s) outside the recording {hdr.path} "
                f"(0 to {hdr.duration_s:.0f} s). Check that the annotation file belongs to this recording."
            )
    else:
        ann = _read_annotations(ann_file, hdr.duration_s, hdr.path)
    hyp = _hypnogram_from(ann, hdr.duration_s, epoch_s)
    events, arousals = _events_from(ann)
    return PSGRecording(signals=signals, sfreq=sfreq, labels=found, hypnogram=hyp, epoch_s=float(epoch_s),
                        events=events, arousals=arousals, annotations=ann, path=hdr.path, patient=hdr.patient,
                        duration_s=hdr.duration_s)


def read_psg_raw(
    path: "str | os.PathLike",
    *,
    channels: Sequence[str] = ("flow", "thorax", "abdomen", "spo2"),
    optional_channels: Sequence[str] = (),
):
    """Read the needed channels of an EDF/EDF+ file as an ``mne.io.Raw`` with annotations.

    Channels are renamed to canonical names. MNE holds one sampling rate per Raw, so slower channels
    are upsampled to the fastest one read: ask only for channels sampled alike (e.g. the respiratory
    ones), or use :func:`read_psg` to keep native rates.

    Examples
    --------
    >>> raw = read_psg_raw("night.edf", channels=("flow", "thorax", "abdomen"))  # doctest: +SKIP
    >>> raw.ch_names  # doctest: +SKIP
    ['flow', 'thorax', 'abdomen']
    """

    hdr = read_edf_header(path)
    found = match_channels(hdr.labels, channels, optional=optional_channels, path=hdr.path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            raw = _read_raw_edf(hdr.path, list(found.values()))
        except Exception as exc:  # noqa: BLE001
            raise MedaiInputError(f"MNE could not read {hdr.path}: {exc}. The file may be corrupt.") from exc
    raw.rename_channels({lab: ch for ch, lab in found.items()})
    return raw
