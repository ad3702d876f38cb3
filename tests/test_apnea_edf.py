"""EDF+ write/read of nights via edfio and MNE, channel-name mapping, and bad files."""
import shutil

import edfio
import mne
import numpy as np
import pandas as pd
import pytest

from medai_lib.apnea import (
    list_psg_recordings,
    make_night,
    make_sleep_cohort_files,
    match_channels,
    read_edf_header,
    read_psg,
    read_psg_raw,
    score_night,
    write_psg_edf,
)
from medai_lib.errors import MedaiInputError


@pytest.fixture(scope="module")
def night():
    return make_night(hours=1.0, target_ahi=25.0, random_state=21)


@pytest.fixture(scope="module")
def edf_path(night, tmp_path_factory):
    return write_psg_edf(night, tmp_path_factory.mktemp("edf") / "night.edf")


def _lsb(x):
    return (float(np.max(x)) - float(np.min(x))) * 1.1 / 65535 + 1e-3


def test_round_trip_keeps_native_rates_signals_and_annotations(night, edf_path):
    hdr = read_edf_header(edf_path)
    assert "SYNTHETIC" in hdr.patient and "SYNTHETIC" in hdr.recording
    rates = dict(zip(hdr.labels, hdr.sfreq))
    assert rates["Flow"] == 32 and rates["SpO2"] == 1 and rates["C4-M1"] == 100 and rates["ECG"] == 128
    rec = read_psg(edf_path, optional_channels=("eeg", "emg", "ecg", "position"))
    assert rec.sfreq == {ch: night.sfreq[ch] for ch in rec.signals}
    for ch, x in rec.signals.items():
        ref = night.signals[ch]
        assert x.shape == ref.shape
        tol = 0.01 if ch in ("spo2", "position") else _lsb(ref)
        assert np.max(np.abs(x - ref)) <= tol, ch
    np.testing.assert_array_equal(rec.hypnogram, night.hypnogram)
    scored = night.events[night.events["scored"]]
    assert len(rec.events) == len(scored)
    np.testing.assert_allclose(rec.events["onset_s"], scored["onset_s"], atol=0.01)
    assert list(rec.events["type"]) == list(scored["type"])
    assert len(rec.arousals) == len(night.arousals)


def test_scoring_the_file_equals_scoring_the_night(night, edf_path):
    assert score_night(read_psg(edf_path)).ahi == pytest.approx(score_night(night).ahi, abs=1.1)


def test_reads_only_the_channels_needed(edf_path):
    rec = read_psg(edf_path, channels=("flow",), optional_channels=())
    assert set(rec.signals) == {"flow"}
    raw = read_psg_raw(edf_path, channels=("flow", "thorax", "abdomen"))
    assert isinstance(raw, mne.io.BaseRaw)
    assert raw.ch_names == ["flow", "thorax", "abdomen"] and raw.info["sfreq"] == 32
    assert any(d.startswith("Sleep stage") for d in raw.annotations.description)


def test_shhs_style_labels_are_mapped(night, tmp_path):
    path = write_psg_edf(night, tmp_path / "shhs.edf", labels="shhs")
    assert {"AIRFLOW", "THOR RES", "ABDO RES", "SaO2"} <= set(read_edf_header(path).labels)
    rec = read_psg(path)
    assert rec.labels["flow"] == "AIRFLOW" and rec.labels["spo2"] == "SaO2"
    found = match_channels(["flow ", "ThOr", "ABDO", "SpO2"], ["flow", "thorax", "abdomen", "spo2"])
    assert found["thorax"] == "ThOr"


def test_missing_channel_names_it_and_the_labels_tried(tmp_path):
    partial = make_night(hours=0.5, random_state=1, channels=("flow", "thorax", "abdomen", "eeg"))
    path = write_psg_edf(partial, tmp_path / "nospo2.edf")
    expected = r"nospo2.edf is missing required channel\(s\) \['spo2'\].*SaO2"
    with pytest.raises(MedaiInputError, match=expected):
        read_psg(path)


def test_truncated_file_is_named(edf_path, tmp_path):
    cut = tmp_path / "cut.edf"
    shutil.copy(edf_path, cut)
    with open(cut, "r+b") as f:
        f.truncate(cut.stat().st_size // 2)
    with pytest.raises(MedaiInputError, match=r"cut.edf is truncated"):
        read_psg(cut)
    (tmp_path / "junk.edf").write_bytes(b"not an edf at all" * 40)
    with pytest.raises(MedaiInputError, match="junk.edf is not an EDF file"):
        read_edf_header(tmp_path / "junk.edf")


def test_an_edf_named_rec_loads_like_the_edf(night, edf_path, tmp_path):
    # ".rec" is a common name for EDF files; MNE accepts only ".edf" for a path, the loader must not care
    rec_path = tmp_path / "NIGHT01.REC"
    shutil.copy(edf_path, rec_path)
    a, b = read_psg(edf_path), read_psg(rec_path)
    assert a.sfreq == b.sfreq
    for ch in a.signals:
        np.testing.assert_array_equal(a.signals[ch], b.signals[ch])
    np.testing.assert_array_equal(a.hypnogram, b.hypnogram)
    assert len(b.events) == int(night.events["scored"].sum())
    raw = read_psg_raw(rec_path, channels=("flow", "thorax", "abdomen"))
    np.testing.assert_allclose(raw.get_data()[0], read_psg_raw(edf_path, channels=("flow",)).get_data()[0])
    listing = list_psg_recordings(tmp_path)
    assert list(listing["psg_path"]) == [rec_path]
    # a file that is no EDF at all, under the same name, is named with what to do
    (tmp_path / "NIGHT01.REC").write_bytes(b"PK\x03\x04 a zip archive" * 20)
    with pytest.raises(MedaiInputError, match=r"NIGHT01.REC is not an EDF file.*export it as EDF"):
        read_psg(tmp_path / "NIGHT01.REC")


def _write(path, signals, annotations=()):
    edfio.Edf([edfio.EdfSignal(np.asarray(x, float), fs, label=lab) for lab, fs, x in signals],
              annotations=[edfio.EdfAnnotation(*a) for a in annotations]).write(path)
    return path


def test_mixed_or_too_slow_rates_are_explained(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    mixed = _write(tmp_path / "mixed.edf", [
        ("Flow", 32, rng.normal(size=32 * n)), ("Thor", 10, rng.normal(size=10 * n)),
        ("Abdo", 10, rng.normal(size=10 * n)), ("SpO2", 1, np.full(n, 96.0))])
    with pytest.raises(MedaiInputError, match=r"mixed sampling rates \(Flow 32 Hz, Thor 10 Hz, Abdo 10 Hz\)"):
        read_psg(mixed)
    slow = _write(tmp_path / "slow.edf", [("Flow", 1, rng.normal(size=n)), ("Thor", 1, rng.normal(size=n)),
                                          ("Abdo", 1, rng.normal(size=n)), ("SpO2", 1, np.full(n, 96.0))])
    with pytest.raises(MedaiInputError, match=r"slow.edf: channel 'Flow' \(flow\) is sampled at 1 Hz"):
        read_psg(slow)


def test_annotations_outside_the_recording(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    sig = [(lab, 32, rng.normal(size=32 * n)) for lab in ("Flow", "Thor", "Abdo")]
    sig.append(("SpO2", 1, np.full(n, 96.0)))
    path = _write(tmp_path / "late.edf", sig, [(0, 30, "Sleep stage W"), (900, 20, "Obstructive apnea")])
    expected = r"late.edf has 1 annotation\(s\) outside the recording.*'Obstructive apnea'"
    with pytest.raises(MedaiInputError, match=expected):
        read_psg(path)


def test_cached_cohort_folder(tmp_path):
    folder = make_sleep_cohort_files(2, hours=0.5, random_state=3, root=tmp_path)
    assert make_sleep_cohort_files(2, hours=0.5, random_state=3, root=tmp_path) == folder
    listing = list_psg_recordings(folder)
    assert list(listing["record"]) == ["SYN-0000", "SYN-0001"]
    subjects = pd.read_csv(folder / "subjects.csv")
    events = pd.read_csv(folder / "events.csv")
    first = events[(events["subject_id"] == "SYN-0000") & events["scored"]]
    assert subjects["true_ahi"][0] == pytest.approx(len(first) / subjects["total_sleep_time_h"][0])
    rec = read_psg(listing["psg_path"][0])
    assert len(rec.events) == len(first)
