"""Which frequency bands could a network tag this dataset from? A diagnosis of the audio cache.

A raw-audio network learns its strided filters where the input's energy tells tags apart: if
one band alone predicts most tags (a kick drum's sub-100 Hz thump that comes with drums, beat,
loud and rock), every filter goes there and no frequency decomposition is learnt (the paper's
Fig. 2). This command measures what the data offers, for any dataset whose audio cache exists
(``synth``, ``mtat``, ``folder``):

* the long-term spectrum by band: each band's share of the power of all clips together;
* for every tag, the clip-level ROC-AUC of each band's energy alone (log of the clip's mean power
  in the band, Welch's method), and the best band; an AUC below 0.5 means the tag comes with
  *less* energy there, so the best is the largest of AUC and 1 - AUC.

    python -m pipeline.features.diagnose [--params params.yaml] [--out reports/diagnosis]

It reads ``data/processed/<dataset>/audio.{bin,csv}`` and the split (run the pipeline up to
``decode_audio`` first) and writes ``<dataset>_bands.csv``, ``<dataset>_tags.csv`` and a readable
``<dataset>.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import atomic
from pipeline.config import ParamsError, load_params
from pipeline.constants import SAMPLE_RATE
from pipeline.data.split import read_split, tag_columns
from pipeline.features.cache import open_cache
from pipeline.paths import Paths

BAND_EDGES_HZ = (0, 50, 100, 200, 400, 800, 1600, 3200, 6400, 8000)
"""Bands of the diagnosis: below 100 Hz in two, then octaves from 100 Hz (those Figure 2's
statistics count filters in), then the top of the spectrum."""
_SEGMENT = 1024
"""Welch segment length (64 ms, 15.6 Hz resolution: two bins in the 0-50 Hz band)."""
_POWER_FLOOR = 1e-20
"""Added before the log, so a silent band is a very low level, not minus infinity."""


def band_names(edges: tuple[int, ...] = BAND_EDGES_HZ) -> list[str]:
    return [f"{low}-{high} Hz" for low, high in zip(edges[:-1], edges[1:], strict=True)]


def band_powers(audio: np.ndarray, edges: tuple[int, ...] = BAND_EDGES_HZ) -> np.ndarray:
    """Mean power of ``audio`` (int16 or float) in each band (Welch periodogram, Hann window)."""
    from scipy import signal

    x = np.asarray(audio, dtype=np.float64)
    if np.issubdtype(np.asarray(audio).dtype, np.integer):
        x = x / 32768.0
    hz, density = signal.welch(x, fs=SAMPLE_RATE, nperseg=min(_SEGMENT, len(x)))
    step = hz[1] - hz[0]
    powers = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (hz >= low) & ((hz < high) if high < edges[-1] else (hz <= high))
        powers.append(float(density[inside].sum() * step))
    return np.array(powers)


@dataclass(frozen=True)
class Diagnosis:
    """The dataset's long-term spectrum by band and every tag's best single-band AUC."""

    bands: pd.DataFrame  # band, share of power
    tags: pd.DataFrame  # tag, positives, AUC per band, best band, best AUC, direction
    clips: int


def diagnose(clip_powers: np.ndarray, labels: np.ndarray, tags: list[str]) -> Diagnosis:
    """The diagnosis from per-clip band powers (clips x bands) and 0/1 labels (clips x tags)."""
    from sklearn.metrics import roc_auc_score

    names = band_names()
    total = clip_powers.sum(axis=0)
    bands = pd.DataFrame({"band": names, "power_share": total / total.sum()})
    levels = np.log10(clip_powers + _POWER_FLOOR)
    rows = []
    for column, tag in enumerate(tags):
        y = labels[:, column]
        row: dict[str, object] = {"tag": tag, "positives": int(y.sum())}
        if 0 < y.sum() < len(y):
            aucs = [float(roc_auc_score(y, levels[:, b])) for b in range(len(names))]
            strength = np.maximum(aucs, 1 - np.asarray(aucs))
            best = int(np.argmax(strength))
            row.update({name: round(auc, 4) for name, auc in zip(names, aucs, strict=True)})
            row.update(
                {
                    "best_band": names[best],
                    "best_auc": round(float(strength[best]), 4),
                    "direction": "more" if aucs[best] >= 0.5 else "less",
                }
            )
        rows.append(row)
    columns = ["tag", "positives", *names, "best_band", "best_auc", "direction"]
    return Diagnosis(bands, pd.DataFrame(rows, columns=columns), len(labels))


def diagnose_cache(audio_stem: Path, split_path: Path) -> Diagnosis:
    """Band powers of every clip in the audio cache, scored against the split's labels."""
    audio, index = open_cache(audio_stem, "int16")
    split = read_split(split_path)
    tags = tag_columns(split)
    labels_by_clip = split.set_index("clip_id")[tags]
    powers, labels = [], []
    for row in index.itertuples():
        clip = audio[row.offset : row.offset + row.count]
        powers.append(band_powers(clip))
        labels.append(labels_by_clip.loc[row.clip_id].to_numpy())
    return diagnose(np.array(powers), np.array(labels, dtype=np.int64), tags)


def summary_markdown(result: Diagnosis, dataset: str) -> str:
    """A readable report: power by band, then each tag's best band, strongest first."""
    lines = [
        f"# Which bands predict which tags: `{dataset}` ({result.clips} clips)",
        "",
        "Share of the power of all clips together, by band:",
        "",
        "| band | power share |",
        "| --- | ---: |",
    ]
    lines += [f"| {b.band} | {b.power_share:.1%} |" for b in result.bands.itertuples()]
    table = result.tags.dropna(subset=["best_auc"]).sort_values("best_auc", ascending=False)
    low = band_names()[:2]
    lines += [
        "",
        "Each tag's clip-level ROC-AUC from one band's energy alone (the best band; `less`: the "
        "tag comes with less energy there), and from the energy below 100 Hz:",
        "",
        f"| tag | clips | best band | best AUC | direction | {low[0]} | {low[1]} |",
        "| --- | ---: | --- | ---: | --- | ---: | ---: |",
    ]
    for row in table.to_dict("records"):
        lows = [max(row[name], 1 - row[name]) for name in low]
        lines.append(
            f"| {row['tag']} | {row['positives']} | {row['best_band']} | {row['best_auc']:.3f} | "
            f"{row['direction']} | {lows[0]:.3f} | {lows[1]:.3f} |"
        )
    strong = table[table["best_auc"] >= 0.8]
    below_100 = strong["best_band"].isin(low).sum()
    lines += [
        "",
        f"Tags with a single band at AUC >= 0.8: {len(strong)} of {len(table)}; of those, "
        f"{below_100} have their best band below 100 Hz.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.features.diagnose", description=__doc__
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="reports/diagnosis", type=Path)
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
    except ParamsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    paths = Paths.of(params)
    cache = Path(f"{paths.audio_stem}.csv")
    if not cache.is_file() or not paths.split.is_file():
        print(
            f"error: {cache} or {paths.split} is missing: build the audio cache first "
            f"(snakemake --cores 2 {paths.audio_stem}.bin)",
            file=sys.stderr,
        )
        return 2
    result = diagnose_cache(paths.audio_stem, paths.split)
    dataset = paths.dataset
    atomic.write_csv(result.bands, args.out / f"{dataset}_bands.csv", float_format="%.5f")
    atomic.write_csv(result.tags, args.out / f"{dataset}_tags.csv")
    report = summary_markdown(result, dataset)
    atomic.write_text(args.out / f"{dataset}.md", report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
