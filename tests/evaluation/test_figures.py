import numpy as np
import pandas as pd
import pytest

from pipeline.evaluation import figures
from pipeline.evaluation.figures import (
    dominant_order,
    filter_spectra,
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


@pytest.fixture()
def drawn(monkeypatch):
    """The figures the plotting functions save, kept open to read back what they show."""
    figures_saved = []
    save = figures._save

    def keep(fig, out, caption=""):
        figures_saved.append(fig)
        save(fig, out, caption)
        assert out.read_bytes().startswith(b"\x89PNG")

    monkeypatch.setattr(figures, "_save", keep)
    return figures_saved


FREQUENCIES = [3000.0, 250.0, 1000.0, 6000.0, 500.0, 2000.0, 4000.0, 125.0]


def test_spectra_figure_shows_each_filter_peaking_at_its_frequency_one_panel_per_seed(
    tmp_path, drawn
):
    second = [f * 1.2 for f in FREQUENCIES[:4]]
    banks = {"seed 1": _sinusoid_filters(FREQUENCIES), "seed 2": _sinusoid_filters(second)}
    plot_filter_spectra(banks, "spectra", tmp_path / "fig2.png", caption="1,500 updates")
    panels = drawn[0].axes[:2]  # the colour bar comes after the panels
    assert [ax.get_title() for ax in panels] == ["seed 1", "seed 2"]
    for ax, frequencies in zip(panels, (FREQUENCIES, second), strict=True):
        mesh = ax.collections[0]
        columns = np.asarray(mesh.get_array()).reshape(-1, len(frequencies))
        _, hz = filter_spectra(_sinusoid_filters(frequencies))
        assert columns.shape[0] == len(hz)
        np.testing.assert_allclose(hz[columns.argmax(axis=0)], sorted(frequencies), atol=16)
        np.testing.assert_allclose(columns.max(axis=0), 1.0)
    assert "1,500 updates" in [text.get_text() for text in drawn[0].texts]


def test_waveform_figure_shows_the_filters_in_frequency_order(tmp_path, drawn):
    filters = _sinusoid_filters(FREQUENCIES)
    plot_filter_waveforms(filters, "filters", tmp_path / "fig3.png", count=8)
    panels = [ax for ax in drawn[0].axes if ax.lines]
    titles = [float(ax.get_title().removesuffix(" Hz")) for ax in panels]
    np.testing.assert_allclose(titles, sorted(FREQUENCIES), atol=16)
    for ax, frequency in zip(panels, sorted(FREQUENCIES), strict=True):
        shown = ax.lines[0].get_ydata()
        assert np.array_equal(shown, filters[FREQUENCIES.index(frequency)])


def test_group_figure_shows_groups_in_frequency_order_each_around_its_frequency(tmp_path, drawn):
    group_frequencies = [3000.0, 500.0, 2000.0, 250.0]  # each group: 2 filters, one frequency
    filters = _sinusoid_filters(np.repeat(group_frequencies, 2))
    filters[0] += _sinusoid_filters([250.0])[0]  # group 0's first filter also hums at 250 Hz
    plot_filter_groups(filters, 2, "groups", tmp_path / "fig4.png", groups=4)
    rows = [ax.get_ylabel().splitlines()[0] for ax in drawn[0].axes if ax.get_ylabel()]
    assert rows == ["group 3", "group 1", "group 2", "group 0"]
    shown = drawn[0].axes[6].lines[0].get_ydata()  # row 3 (3000 Hz), column 0
    spectrum = np.abs(np.fft.rfft(shown, n=1024))
    hz = np.fft.rfftfreq(1024, 1 / 16000)
    assert spectrum[np.argmin(np.abs(hz - 250))] < 1e-6 * spectrum.max(), "250 Hz is cut"
    assert abs(hz[spectrum.argmax()] - 3000) < 16
    titles = [drawn[0].axes[i].get_title() for i in (6, 7)]
    assert all(title.startswith(("2984 Hz", "3000 Hz")) for title in titles), titles


def test_training_curves_show_every_seed_of_every_variant(tmp_path, drawn):
    histories = {
        "a": {1: pd.DataFrame({"update": [10, 20], "valid_auc": [0.6, 0.7]}),
              2: pd.DataFrame({"update": [10, 20], "valid_auc": [0.5, 0.8]})},
        "b": {1: pd.DataFrame({"update": [10, 20], "valid_auc": [0.9, 0.4]})},
    }  # fmt: skip
    plot_training_curves(histories, {"table1": ["a"], "table2": ["b"]}, tmp_path / "c.png")
    first, second = drawn[0].axes[:2]
    assert [line.get_ydata().tolist() for line in first.lines] == [[0.6, 0.7], [0.5, 0.8]]
    assert [line.get_ydata().tolist() for line in second.lines] == [[0.9, 0.4]]
    assert [t.get_text() for t in first.get_legend().get_texts()] == ["a"]
    assert not list(tmp_path.glob("*.partial*"))


def test_captions_state_updates_seeds_and_the_findings_verdicts():
    from pipeline.config import load_params
    from pipeline.evaluation.claims import ClaimSettings, FigureEvidence
    from pipeline.evaluation.filter_stats import filter_bank_stats, pool_agreement
    from tests.conftest import REPO
    from tests.evaluation.test_filter_stats import mel_like_bank, pooled_bank

    settings = ClaimSettings.from_params(load_params(REPO / "params.yaml"))
    rng = np.random.default_rng(0)
    piled = _sinusoid_filters(rng.uniform(35, 60, 128))
    fig2 = FigureEvidence(
        "raw_512_512",
        {1: filter_bank_stats(mel_like_bank(), 10), 2: filter_bank_stats(piled, 10)},
        {},
        1500,
    )
    fig4 = FigureEvidence("l2", {}, {1: pool_agreement(pooled_bank(32, 4, rng), 4, 999)}, 1500)
    captions = figures.figure_captions(fig2, fig4, [1, 2], settings)
    assert captions["fig2"].startswith("seeds 1, 2, 1,500 updates each")
    assert "filters frequency selective: holds" in captions["fig2"]
    assert "filters cover lower half: does not hold" in captions["fig2"]
    assert "l2 pools agree in frequency: holds" in captions["fig4"]
    assert captions["fig3"].startswith("Seed 1 of seeds 1, 2")
