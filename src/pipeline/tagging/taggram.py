"""Taggrams: a file's tags over time, one image per file.

Naming (``--taggram OUT``): with one input file, ``OUT`` is the image path itself (``.png``
is added if missing). With several files, an ``OUT`` ending in ``.png`` becomes
``OUT_<stem>.png`` per file, and any other ``OUT`` is a folder that receives ``<stem>.png``
per file; a stem used twice gets ``_2``, ``_3``... in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.tagging.inference import TagResult

TAGGRAM_MAX_TAGS = 30
"""A taggram shows every tag of a model with at most this many tags, else the top ones."""


def taggram_paths(out: str | Path, results: Sequence[TagResult]) -> list[Path]:
    """Where each result's taggram goes (see the module docstring for the naming rule)."""
    out = Path(out)
    if len(results) == 1:
        return [out if out.suffix.lower() == ".png" else out.with_name(out.name + ".png")]
    seen: dict[str, int] = {}
    paths = []
    for result in results:
        stem = Path(result.path).stem
        seen[stem] = seen.get(stem, 0) + 1
        name = stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"
        if out.suffix.lower() == ".png":
            paths.append(out.with_name(f"{out.stem}_{name}.png"))
        else:
            paths.append(out / f"{name}.png")
    return paths


def draw_taggram(result: TagResult, out: Path, max_tags: int = TAGGRAM_MAX_TAGS) -> None:
    """Tags (rows, most probable on top) over time in seconds, colour = probability."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert result.window_probabilities is not None and result.probabilities is not None
    order = np.argsort(-result.probabilities, kind="stable")[:max_tags]
    grid = result.window_probabilities[:, order].T
    end = result.windows * result.window_seconds
    height = 1.2 + 0.22 * len(order)
    figure, axes = plt.subplots(figsize=(max(6.0, min(16.0, 4 + end / 10)), height))
    image = axes.imshow(
        grid,
        aspect="auto",
        interpolation="nearest",
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
        extent=(0.0, end, len(order) - 0.5, -0.5),
    )
    axes.set_yticks(range(len(order)), [result.tags[i] for i in order], fontsize=8)
    axes.set_xlabel("time (s)")
    axes.set_title(Path(result.path).name, fontsize=10)
    figure.colorbar(image, ax=axes, label="probability", pad=0.01)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
