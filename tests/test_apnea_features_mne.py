"""Sleep-stage epochs through MNE: stages match the hypnogram, spectra follow the stage physiology."""
import numpy as np
import pytest

from medai_lib.apnea import make_night, read_psg_raw, write_psg_edf
from medai_lib.apnea.mne_tools import plot_stage_spectra, recording_to_raw, stage_epochs
from medai_lib.errors import MedaiInputError


@pytest.fixture(scope="module")
def night_raw(tmp_path_factory):
    night = make_night(hours=1.5, random_state=4, channels=("eeg", "flow", "thorax", "abdomen", "spo2"))
    path = write_psg_edf(night, tmp_path_factory.mktemp("edf") / "n.edf")
    return night, read_psg_raw(path, channels=("eeg",))


def test_stage_epochs_follow_hypnogram(night_raw):
    night, raw = night_raw
    epochs = stage_epochs(raw)
    stages, counts = np.unique(night.hypnogram, return_counts=True)
    for s, c in zip(stages, counts):
        assert len(epochs[s]) == pytest.approx(c, abs=1)  # the last epoch may be cut by the file end


def test_delta_power_highest_in_n3(night_raw):
    _, raw = night_raw
    epochs = stage_epochs(raw)
    delta = {s: epochs[s].compute_psd(fmin=0.5, fmax=2.0, verbose="error").get_data().mean()
             for s in epochs.event_id}
    assert max(delta, key=delta.get) == "N3"  # slow-wave sleep (AASM: >20% of the epoch in 0.5-2 Hz waves)
    import matplotlib
    matplotlib.use("Agg")
    ax = plot_stage_spectra(epochs)
    assert len(ax.lines) == len(epochs.event_id)


def test_no_stage_annotations_give_unstaged_epochs(night_raw, caplog):
    night, raw = night_raw
    bare = raw.copy().set_annotations(None)
    with caplog.at_level("WARNING"):
        epochs = stage_epochs(bare)
    assert "no sleep-stage annotations" in caplog.text
    assert list(epochs.event_id) == ["unstaged"] and len(epochs) == len(night.hypnogram)
    import matplotlib
    matplotlib.use("Agg")
    ax = plot_stage_spectra(epochs)
    assert len(ax.lines) == 1 and "no sleep staging" in ax.get_title()
    assert "no EEG" in plot_stage_spectra(None).texts[0].get_text()
    with pytest.raises(TypeError, match="mne.io.Raw"):
        stage_epochs(np.zeros(3))


def test_recording_to_raw_carries_the_hypnogram(night_raw):
    night, raw_from_file = night_raw
    raw = recording_to_raw(night)
    np.testing.assert_allclose(raw.get_data()[0][: 1000], raw_from_file.get_data()[0][: 1000], atol=2e-7)
    epochs = stage_epochs(raw)
    stages, counts = np.unique(night.hypnogram, return_counts=True)
    assert {s: len(epochs[s]) for s in stages} == dict(zip(stages, counts))
    with pytest.raises(MedaiInputError, match="no \\['ecg'\\] channel"):
        recording_to_raw(night, channels=("ecg",))
