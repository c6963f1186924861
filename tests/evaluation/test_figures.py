import numpy as np
import pandas as pd

from pipeline.evaluation.figures import (
    dominant_order,
    plot_filter_groups,
    plot_filter_spectra,
    plot_filter_waveforms,
    plot_training_curves,
)


def _sinusoid_filters(frequencies, length=512):
    t = np.arange(length) / 16000
    return np.stack([np.hanning(length) * np.sin(2 * np.pi * f * t) for f in frequencies])


def test_dominant_order_sorts_filters_by_frequency():
    frequencies = [3000.0, 250.0, 1000.0, 6000.0]
    order, dominant = dominant_order(_sinusoid_filters(frequencies))
    assert order.tolist() == [1, 2, 0, 3]
    assert np.allclose(dominant, sorted(frequencies), atol=16)


def test_figures_are_written_as_png(tmp_path):
    filters = _sinusoid_filters(np.linspace(100, 7000, 16))
    plot_filter_spectra(filters, "spectra", tmp_path / "fig2.png")
    plot_filter_waveforms(filters, "filters", tmp_path / "fig3.png", count=8)
    plot_filter_groups(filters, 4, "groups", tmp_path / "fig4.png", groups=4)
    history = pd.DataFrame({"update": [10, 20], "valid_auc": [0.6, 0.7]})
    plot_training_curves({"a": {1: history}}, {"table1": ["a"]}, tmp_path / "curves.png")
    for name in ("fig2", "fig3", "fig4", "curves"):
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    assert not list(tmp_path.glob("*.partial*"))
