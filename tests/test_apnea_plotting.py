"""The stacked PSG figure: what it draws and how it refuses bad channels."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from medai_lib.apnea import make_night, plot_psg_window  # noqa: E402
from medai_lib.errors import MedaiInputError  # noqa: E402


def test_plot_psg_window_draws_channels_and_events():
    import matplotlib.pyplot as plt

    night = make_night(hours=0.5, target_ahi=40, random_state=2, channels=("flow", "spo2", "eeg"))
    ev = night.events
    start = float(ev["onset_s"].iloc[0]) - 20
    fig = plot_psg_window(night, start_s=start, duration_s=120, channels=("flow", "spo2", "eeg"), events=ev,
                          arousals=night.arousals)
    axes = fig.axes
    assert len(axes) == 3
    assert axes[0].get_xlim() == pytest.approx((start, start + 120))
    assert len(axes[0].lines[0].get_xdata()) == 120 * 32  # flow at its native 32 Hz
    assert len(axes[0].patches) >= 1  # the first event is shaded
    plt.close(fig)
    with pytest.raises(MedaiInputError, match=r"channels \['ecg'\] are not in the recording"):
        plot_psg_window(night, start_s=0, channels=("flow", "ecg"))
