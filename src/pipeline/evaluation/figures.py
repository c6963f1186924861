"""The paper's filter figures (2-4) and the training curves, as PNG files.

Figure 2 shows the normalised magnitude spectrum of every strided-layer filter, ordered by
dominant frequency, one panel per seed; Figure 3 a subset of the first seed's filters in that
order; Figure 4 the groups of the first seed's L2-pooling model, one row per group (low-pass
filtered for display, as the paper's were). Each figure's caption, drawn under it, states the
updates the models were trained for, the seeds, and the verdict of the findings the figure
illustrates (:mod:`pipeline.evaluation.claims`, the same rules as the scorecard), so a reader
sees what the picture shows without squinting at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline import atomic  # noqa: E402
from pipeline.config import Variant  # noqa: E402
from pipeline.constants import SAMPLE_RATE  # noqa: E402
from pipeline.evaluation.claims import (  # noqa: E402
    Claim,
    ClaimSettings,
    FigureEvidence,
    figure2_claims,
    figure4_claims,
    filter_evidence,
)
from pipeline.evaluation.filter_stats import n_fft_for, strided_filters  # noqa: E402
from pipeline.paths import Paths  # noqa: E402

FIGURE_FILES = {
    "fig2": "fig2_filter_spectra.png",
    "fig3": "fig3_filters.png",
    "fig4": "fig4_l2_pool_groups.png",
    "curves": "training_curves.png",
}


def filter_spectra(filters: np.ndarray, n_fft: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude spectra normalised per filter to a peak of 1, and the frequency of each bin."""
    n_fft = n_fft or n_fft_for(filters.shape[1])
    magnitude = np.abs(np.fft.rfft(filters, n=n_fft, axis=1))
    magnitude /= magnitude.max(axis=1, keepdims=True) + 1e-12
    return magnitude, np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)


def dominant_order(filters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Filter indices sorted by dominant frequency (low to high), and those frequencies."""
    magnitude, hz = filter_spectra(filters)
    dominant = hz[np.argmax(magnitude, axis=1)]
    order = np.argsort(dominant, kind="stable")
    return order, dominant[order]


def plot_filter_spectra(
    banks: dict[str, np.ndarray], title: str, out: Path, caption: str = ""
) -> None:
    """Figure 2: per bank (a seed), one column per filter, frequency upwards, ordered by
    dominant frequency; ``banks`` maps each panel's title to its filters."""
    fig, axes = plt.subplots(
        1, len(banks), figsize=(4.2 * len(banks) + 1.2, 4.8), squeeze=False, sharey=True
    )
    image = None
    for ax, (panel, filters) in zip(axes[0], banks.items(), strict=True):
        order, _ = dominant_order(filters)
        magnitude, hz = filter_spectra(filters)
        edges = np.arange(len(order) + 1) + 0.5
        hz_edges = np.concatenate([hz[:1], (hz[1:] + hz[:-1]) / 2, hz[-1:]])
        hz_edges[0] = hz[1] / 2  # log axis: the DC bin is drawn from half the first bin up
        image = ax.pcolormesh(edges, hz_edges, magnitude[order].T, cmap="magma", shading="flat")
        ax.set_yscale("log")
        ax.set_ylim(hz_edges[0], hz[-1])
        ax.set_xlabel("filter (by dominant frequency)")
        ax.set_title(panel, fontsize=8)
    axes[0, 0].set_ylabel("frequency (Hz, log scale)")
    fig.colorbar(image, ax=axes[0, -1], label="normalised magnitude")
    fig.suptitle(title)
    _save(fig, out, caption)


def plot_filter_waveforms(
    filters: np.ndarray, title: str, out: Path, count: int = 16, caption: str = ""
) -> None:
    """Figure 3: an evenly spaced subset of the filters, in dominant-frequency order."""
    order, dominant = dominant_order(filters)
    picks = np.linspace(0, len(order) - 1, min(count, len(order))).round().astype(int)
    columns = 4
    rows = int(np.ceil(len(picks) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(10, 1.6 * rows), sharex=True, squeeze=False)
    ms = np.arange(filters.shape[1]) / SAMPLE_RATE * 1000
    for ax, pick in zip(axes.flat, picks, strict=False):
        ax.plot(ms, filters[order[pick]], linewidth=0.7)
        ax.set_title(f"{dominant[pick]:.0f} Hz", fontsize=8)
        ax.set_yticks([])
    for ax in axes.flat[len(picks) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("time (ms)")
    fig.suptitle(title)
    _save(fig, out, caption)


def _band_pass(x: np.ndarray, centre_hz: float, half_width_octaves: float = 0.5) -> np.ndarray:
    """``x`` with only the frequencies within ``half_width_octaves`` of ``centre_hz`` kept, so a
    noisy filter's oscillation at its pool's frequency shows (the paper low-passed its filters
    "to make the dominant frequencies stand out")."""
    spectrum = np.fft.rfft(x, axis=-1)
    hz = np.fft.rfftfreq(x.shape[-1], 1.0 / SAMPLE_RATE)
    factor = 2.0**half_width_octaves
    spectrum[..., (hz < centre_hz / factor) | (hz > centre_hz * factor)] = 0
    return np.fft.irfft(spectrum, n=x.shape[-1], axis=-1)


def plot_filter_groups(
    filters: np.ndarray,
    pool_size: int,
    title: str,
    out: Path,
    groups: int = 8,
    caption: str = "",
) -> None:
    """Figure 4: one row per filter group of an L2-pooling model, groups by dominant frequency;
    each filter band-passed around its group's dominant frequency (half an octave either side)
    and labelled with its own dominant frequency and its phase there, so that versions of one
    filter at other phases read as such."""
    grouped = filters.reshape(-1, pool_size, filters.shape[1])
    n_fft = n_fft_for(filters.shape[1])
    spectra = np.fft.rfft(grouped, n=n_fft, axis=-1)
    hz = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
    group_bin = np.argmax((np.abs(spectra) ** 2).sum(axis=1), axis=1)
    order = np.argsort(group_bin, kind="stable")
    picks = order[np.linspace(0, len(order) - 1, min(groups, len(order))).round().astype(int)]
    fig, axes = plt.subplots(
        len(picks),
        pool_size,
        figsize=(2.4 * pool_size, 1.25 * len(picks)),
        sharex=True,
        squeeze=False,
    )
    ms = np.arange(filters.shape[1]) / SAMPLE_RATE * 1000
    for row, group in enumerate(picks):
        centre = hz[group_bin[group]]
        for column in range(pool_size):
            ax = axes[row, column]
            ax.plot(ms, _band_pass(grouped[group, column], centre), linewidth=0.6)
            own = hz[np.argmax(np.abs(spectra[group, column]))]
            phase = np.degrees(np.angle(spectra[group, column, group_bin[group]]))
            ax.set_title(f"{own:.0f} Hz, {phase:+.0f} deg", fontsize=6, pad=2)
            ax.set_yticks([])
        axes[row, 0].set_ylabel(f"group {group}\n{centre:.0f} Hz", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("time (ms)")
    fig.suptitle(title)
    _save(fig, out, caption)


def plot_training_curves(
    histories: dict[str, dict[int, pd.DataFrame]], tables: dict[str, list[str]], out: Path
) -> None:
    """Validation AUC against updates for every variant: one panel per table, one line per seed."""
    fig, axes = plt.subplots(
        1, len(tables), figsize=(5 * len(tables), 4), sharey=True, squeeze=False
    )
    for ax, (table, names) in zip(axes[0], tables.items(), strict=True):
        for index, name in enumerate(names):
            colour = plt.get_cmap("tab10")(index % 10)
            for seed_index, history in enumerate(histories[name].values()):
                ax.plot(
                    history["update"],
                    history["valid_auc"],
                    color=colour,
                    linewidth=1,
                    alpha=0.8,
                    label=name if seed_index == 0 else None,
                )
        ax.set_title(table.replace("table", "Table "))
        ax.set_xlabel("parameter updates")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[0, 0].set_ylabel("validation AUC (clip level)")
    _save(fig, out)


def _save(fig: plt.Figure, out: Path, caption: str = "") -> None:
    """Write ``fig`` as a PNG, with ``caption`` as wrapped text under the axes."""
    if caption:
        fig.text(0.01, 0.005, caption, fontsize=7, va="bottom", ha="left", wrap=True)
        fig.tight_layout(rect=(0, 0.06 + 0.02 * caption.count("\n"), 1, 1))
    else:
        fig.tight_layout()
    with atomic.atomic_path(out) as partial:
        fig.savefig(partial, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)


def _pair_label(variant: Variant) -> str:
    """'length and stride 512 (32 ms)', or both values when they differ."""
    ms = 1000 / SAMPLE_RATE
    if variant.length == variant.stride:
        return f"length and stride {variant.length} ({variant.length * ms:.0f} ms)"
    return (
        f"length {variant.length} ({variant.length * ms:.0f} ms), "
        f"stride {variant.stride} ({variant.stride * ms:.0f} ms)"
    )


def _verdicts(claims: list[Claim]) -> str:
    return "; ".join(f"{c.claim.replace('_', ' ')}: {c.verdict}" for c in claims)


def _trained_for(evidence: FigureEvidence | None, seeds: Sequence[int]) -> str:
    known = evidence is not None and evidence.updates
    updates = f"{evidence.updates:,} updates" if known else "updates unknown"
    return f"seeds {', '.join(str(s) for s in seeds)}, {updates} each (best validation kept)"


def figure_captions(
    filters_evidence: FigureEvidence | None,
    l2_evidence: FigureEvidence | None,
    seeds: Sequence[int],
    settings: ClaimSettings,
) -> dict[str, str]:
    """What each filter figure's caption says: training, seeds, the findings' verdicts."""
    fig2 = figure2_claims(filters_evidence, settings)
    fig4 = figure4_claims(l2_evidence, settings)
    return {
        "fig2": (
            f"{_trained_for(filters_evidence, seeds)}.\n"
            f"Findings on every seed: {_verdicts(fig2)}."
        ),
        "fig3": f"Seed {seeds[0]} of {_trained_for(filters_evidence, seeds)}.",
        "fig4": (
            f"Seed {seeds[0]} shown; {_trained_for(l2_evidence, seeds)}.\n"
            f"Findings on every seed: {_verdicts(fig4)}."
        ),
    }


def _panel_title(seed: int, evidence: FigureEvidence | None) -> str:
    if evidence is None or seed not in evidence.stats:
        return f"seed {seed}"
    stats = evidence.stats[seed]
    return (
        f"seed {seed}: {stats.selective}/{stats.filters} selective, {stats.in_band} in "
        f"100 Hz-4 kHz\nper octave from 100 Hz: {'/'.join(str(n) for n in stats.octaves.values())}"
    )


def write_figures(
    filters_variant: Variant,
    l2: Variant,
    table_variants: dict[str, list[Variant]],
    seeds: Sequence[int],
    paths: Paths,
    settings: ClaimSettings,
) -> None:
    """Write every figure of reports/figures from the trained models: the filters of
    ``filters_variant`` (Figure 2 for every seed, Figure 3 for the first), the groups of the
    L2-pooling ``l2`` (Figure 4, first seed), and the training curves of every table's
    variants, each seed; the filter figures' captions give the findings' verdicts."""
    seed = seeds[0]
    filters_dirs = {s: paths.model_dir(filters_variant.name, s) for s in seeds}
    l2_dirs = {s: paths.model_dir(l2.name, s) for s in seeds}
    filters_evidence = filter_evidence(filters_dirs, settings)
    l2_evidence = filter_evidence(l2_dirs, settings, l2.pool_size)
    captions = figure_captions(filters_evidence, l2_evidence, seeds, settings)
    pair = _pair_label(filters_variant)
    plot_filter_spectra(
        {_panel_title(s, filters_evidence): strided_filters(filters_dirs[s]) for s in seeds},
        f"Fig. 2: strided-layer filter spectra, raw audio, {pair}",
        paths.figures / FIGURE_FILES["fig2"],
        captions["fig2"],
    )
    plot_filter_waveforms(
        strided_filters(filters_dirs[seed]),
        f"Fig. 3: strided-layer filters by dominant frequency, {pair}",
        paths.figures / FIGURE_FILES["fig3"],
        caption=captions["fig3"],
    )
    plot_filter_groups(
        strided_filters(l2_dirs[seed]),
        l2.pool_size,
        f"Fig. 4: filter groups of the L2-pooling model (pools of {l2.pool_size}), each "
        "band-passed around its group's dominant frequency",
        paths.figures / FIGURE_FILES["fig4"],
        caption=captions["fig4"],
    )
    tables = {name: [v.name for v in variants] for name, variants in table_variants.items()}
    histories = {
        name: {s: pd.read_csv(paths.model_dir(name, s) / "history.csv") for s in seeds}
        for names in tables.values()
        for name in names
    }
    plot_training_curves(histories, tables, paths.figures / FIGURE_FILES["curves"])
