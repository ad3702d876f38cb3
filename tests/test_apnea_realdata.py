"""Real-data loaders on fixtures written in the public layouts (Sleep-EDF, SHHS/NSRR, Apnea-ECG)."""
import edfio
import numpy as np
import pytest
import wfdb

from medai_lib.apnea import (
    list_apnea_ecg_records,
    list_psg_recordings,
    make_night,
    read_apnea_ecg,
    read_nsrr_annotations,
    read_psg,
    write_psg_edf,
)
from medai_lib.errors import MedaiInputError


@pytest.fixture(scope="module")
def sleep_edf_dir(tmp_path_factory):
    """Sleep-EDF (sleep-cassette) layout: EEG at 100 Hz, respiration at 1 Hz, hypnogram in its own file."""
    root = tmp_path_factory.mktemp("sleep-edf")
    rng = np.random.default_rng(0)
    n = 1800
    edfio.Edf([edfio.EdfSignal(rng.normal(0, 20, 100 * n), 100, label="EEG Fpz-Cz", physical_dimension="uV"),
               edfio.EdfSignal(rng.normal(0, 1, n), 1, label="Resp oro-nasal"),
               edfio.EdfSignal(rng.normal(0, 1, n), 1, label="EMG submental", physical_dimension="uV")]
              ).write(root / "SC4001E0-PSG.edf")
    stages = [(0, 300, "Sleep stage W"), (300, 300, "Sleep stage 1"), (600, 600, "Sleep stage 2"),
              (1200, 300, "Sleep stage 3"), (1500, 150, "Sleep stage 4"), (1650, 150, "Sleep stage R"),
              (1800, 30000, "Sleep stage ?")]  # Sleep-EDF ends with a long '?' running past the recording
    hypnogram = edfio.Edf([], annotations=[edfio.EdfAnnotation(*s) for s in stages])
    hypnogram.write(root / "SC4001EC-Hypnogram.edf")
    return root


def test_sleep_edf_layout(sleep_edf_dir):
    listing = list_psg_recordings(sleep_edf_dir)
    assert list(listing["record"]) == ["SC4001E"]
    assert listing["annotations_path"][0].name == "SC4001EC-Hypnogram.edf"
    rec = read_psg(listing["psg_path"][0], channels=("eeg",), optional_channels=("emg",),
                   annotations_path=listing["annotations_path"][0])
    assert rec.sfreq == {"eeg": 100.0}  # the 1 Hz "EMG" is too slow to be one and is skipped
    assert rec.signals["eeg"].std() == pytest.approx(20, rel=0.05)  # microvolts, as written
    counts = {s: int(np.sum(rec.hypnogram == s)) for s in ("W", "N1", "N2", "N3", "R")}
    assert counts == {"W": 10, "N1": 10, "N2": 20, "N3": 15, "R": 5}  # stages 3 and 4 become N3
    with pytest.raises(MedaiInputError, match=r"'Resp oro-nasal' \(flow\) is sampled at 1 Hz"):
        read_psg(listing["psg_path"][0], channels=("flow",), optional_channels=())
    expected = r"missing required channel\(s\) \['thorax', 'abdomen', 'spo2'\]"
    with pytest.raises(MedaiInputError, match=expected):
        read_psg(listing["psg_path"][0])


NSRR_XML = """<?xml version="1.0" encoding="UTF-8"?>
<PSGAnnotation><SoftwareVersion>Compumedics</SoftwareVersion><EpochLength>30</EpochLength><ScoredEvents>
<ScoredEvent><EventType/><EventConcept>Recording Start Time</EventConcept>
<Start>0</Start><Duration>1800</Duration></ScoredEvent>
{events}
</ScoredEvents></PSGAnnotation>"""


def _event(concept, start, duration, kind="Respiratory|Respiratory"):
    return (f"<ScoredEvent><EventType>{kind}</EventType><EventConcept>{concept}</EventConcept>"
            f"<Start>{start}</Start><Duration>{duration}</Duration></ScoredEvent>")


def test_shhs_layout_with_nsrr_xml(tmp_path):
    night = make_night(hours=0.5, target_ahi=30, random_state=5,
                       channels=("flow", "thorax", "abdomen", "spo2"))
    (tmp_path / "edfs" / "shhs1").mkdir(parents=True)
    (tmp_path / "annotations-events-nsrr" / "shhs1").mkdir(parents=True)
    write_psg_edf(night, tmp_path / "edfs" / "shhs1" / "shhs1-200001.edf", labels="shhs")
    concept = {"obstructive_apnea": "Obstructive apnea|Obstructive Apnea",
               "central_apnea": "Central apnea|Central Apnea",
               "mixed_apnea": "Mixed apnea|Mixed Apnea", "hypopnea": "Hypopnea|Hypopnea"}
    scored = night.events[night.events["scored"]]
    items = [_event(concept[e.type], e.onset_s, e.duration_s) for e in scored.itertuples()]
    stage_concept = {"W": "Wake|0", "N1": "Stage 1 sleep|1", "N2": "Stage 2 sleep|2", "N3": "Stage 3 sleep|3",
                     "R": "REM sleep|5"}
    items += [_event(stage_concept[s], 30 * i, 30, "Stages|Stages") for i, s in enumerate(night.hypnogram)]
    xml = tmp_path / "annotations-events-nsrr" / "shhs1" / "shhs1-200001-nsrr.xml"
    xml.write_text(NSRR_XML.format(events="\n".join(items)))
    listing = list_psg_recordings(tmp_path, layout="shhs")
    assert listing["annotations_path"][0] == xml
    ann = read_nsrr_annotations(xml)
    assert len(ann) == len(items)
    rec = read_psg(listing["psg_path"][0], annotations_path=xml)
    assert list(rec.events["type"]) == list(scored["type"])
    np.testing.assert_array_equal(rec.hypnogram, night.hypnogram)
    bad = tmp_path / "bad.xml"
    bad.write_text(NSRR_XML.format(events=_event("Hypopnea|Hypopnea", 5000, 20)))
    with pytest.raises(MedaiInputError, match="bad.xml has 1 annotation"):
        read_psg(listing["psg_path"][0], annotations_path=bad)


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # raised inside wfdb with pandas 3
def test_apnea_ecg_records(tmp_path):
    fs = 100
    minutes = 6
    t = np.arange(minutes * 60 * fs) / fs
    ecg = 0.8 * np.exp(-((t % 0.9) - 0.3) ** 2 / 0.0005)
    wfdb.wrsamp("a01", fs=fs, units=["mV"], sig_name=["ECG"], p_signal=ecg[:, None], fmt=["16"],
                write_dir=str(tmp_path))
    labels = np.array(["N", "N", "A", "A", "A", "N"])
    wfdb.wrann("a01", "apn", np.arange(minutes) * 60 * fs, symbol=list(labels), write_dir=str(tmp_path))
    assert list_apnea_ecg_records(tmp_path) == ["a01"]
    rec = read_apnea_ecg(tmp_path, "a01")
    assert rec.sfreq == 100 and len(rec.ecg) == len(ecg)
    np.testing.assert_allclose(rec.ecg, ecg, atol=0.01)
    assert list(rec.minute_labels["apnea"]) == list(labels == "A")
    with pytest.raises(MedaiInputError, match="b05.hea not found"):
        read_apnea_ecg(tmp_path, "b05")


def test_empty_folder_explains_layouts(tmp_path):
    with pytest.raises(MedaiInputError, match="no PSG recordings found"):
        list_psg_recordings(tmp_path)
    with pytest.raises(MedaiInputError, match="not a folder"):
        list_psg_recordings(tmp_path / "nope")
