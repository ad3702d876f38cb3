"""Sleep-stage epochs through MNE: stages match the hypnogram, spectra follow the stage physiology."""
import numpy as np
import pytest

from medai_lib.apnea import make_night, read_psg_raw, write_psg_edf
from medai_lib.apnea.mne_tools import plot_stage_spectra, stage_epochs
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


def test_no_stage_annotations(night_raw):
    _, raw = night_raw
    bare = raw.copy().set_annotations(None)
    with pytest.raises(MedaiInputError, match="no sleep-stage annotations"):
        stage_epochs(bare)
    with pytest.raises(TypeError, match="mne.io.Raw"):
        stage_epochs(np.zeros(3))
