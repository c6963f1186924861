"""The dataset on disk: every clip as an mp3 in MTAT's part folders, then the annotations.

Generation is resumable and cached: the settings it ran with are stored beside the clips
(``synth.json``), audio is reused while its key (generator fingerprint, seed, sample rate)
matches, and the annotations are written last, so a present annotations file always means a
complete dataset.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline import atomic
from pipeline.constants import ANNOTATIONS_FILE, MTAT_PARTS, SAMPLE_RATE
from pipeline.data.annotations import write_annotations
from pipeline.data.synth.clips import clip_path, clip_true_tags, noisy_labels
from pipeline.data.synth.fingerprint import generator_fingerprint
from pipeline.data.synth.tags import SYNTH_TAGS
from pipeline.data.synth.writer import tune_malloc, write_clip

SETTINGS_FILE = "synth.json"
"""Written beside the annotations: the settings they were generated with (the cache key)."""

GENERATOR = "pipeline.data.synth"
_CLIP_ID_OFFSET = 2
"""MTAT's clip ids start at 2; clip ``i`` gets id ``i + 2``."""
_CLIPS_PER_TASK = 2
"""Clips handed to a worker process at a time."""


def _audio_key(seed: int) -> dict[str, object]:
    """What a clip's audio depends on (besides its index): equal keys mean reusable mp3 files.

    ``fingerprint`` changes with any edit of the generator's source (see
    :mod:`pipeline.data.synth.fingerprint`), so stale clips are never reused.
    """
    return {
        "generator": GENERATOR,
        "fingerprint": generator_fingerprint(),
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
    }


def _settings(clips_per_part: int, seed: int, label_noise: float) -> dict[str, object]:
    return {
        **_audio_key(seed),
        "clips_per_part": clips_per_part,
        "label_noise": label_noise,
        "tags": list(SYNTH_TAGS),
    }


def _read_settings(out_dir: Path) -> dict[str, object] | None:
    try:
        stored = json.loads((out_dir / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None


def generate_synth_dataset(
    out_dir: Path,
    *,
    clips_per_part: int = 24,
    seed: int = 2014,
    label_noise: float = 0.1,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Write the synthetic dataset in MTAT's layout under ``out_dir``; returns the annotations path.

    Clip ``i`` goes to part ``i mod 16`` with clip_id ``i + 2``; its audio depends only on
    ``(seed, i)``, so ``workers`` changes nothing but speed. Returns at once when the dataset is
    already there with the same settings (``synth.json``); otherwise it renders the clips that
    are missing (all of them when the seed or the generator's source changed), removes clips
    left over from other settings, and writes ``annotations_final.csv`` last, so a present
    annotations file always means a complete dataset.
    """
    if clips_per_part < 1:
        raise ValueError(f"clips_per_part must be at least 1, got {clips_per_part}")
    if not 0.0 <= label_noise < 1.0:
        raise ValueError(f"label_noise must lie in [0, 1), got {label_noise}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    out_dir = Path(out_dir)
    annotations = out_dir / ANNOTATIONS_FILE
    n_clips = clips_per_part * len(MTAT_PARTS)
    paths = [clip_path(seed, i) for i in range(n_clips)]
    settings = _settings(clips_per_part, seed, label_noise)
    stored = _read_settings(out_dir)
    files_present = [(out_dir / p).is_file() for p in paths]
    if annotations.is_file() and stored == settings and all(files_present):
        return annotations

    # From here on the annotations are stale: remove them first, record the new settings (so an
    # interrupted run can resume with the clips it already wrote), then write clips, then labels.
    annotations.unlink(missing_ok=True)
    reuse = stored is not None and all(stored.get(k) == v for k, v in _audio_key(seed).items())
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out_dir / SETTINGS_FILE, json.dumps(settings, indent=2) + "\n")
    wanted = set(paths)
    for part in MTAT_PARTS:
        folder = out_dir / part
        folder.mkdir(exist_ok=True)
        for old in [
            *folder.glob("synth_artist_*.mp3"),
            *folder.glob(".synth_artist_*.partial.mp3"),
        ]:
            if f"{part}/{old.name}" not in wanted:  # from other settings or an interrupted run
                old.unlink()

    jobs = [
        (seed, i, str(out_dir / p))
        for i, (p, present) in enumerate(zip(paths, files_present, strict=True))
        if not (reuse and present)
    ]
    with tqdm(total=len(jobs), desc="synth clips", unit="clip", disable=not progress) as bar:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                write_clip(job)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=tune_malloc) as pool:
                for _ in pool.map(write_clip, jobs, chunksize=_CLIPS_PER_TASK):
                    bar.update()

    labels = np.stack(
        [noisy_labels(clip_true_tags(seed, i), seed, i, label_noise) for i in range(n_clips)]
    )
    clip_ids = [i + _CLIP_ID_OFFSET for i in range(n_clips)]
    write_annotations(annotations, clip_ids, SYNTH_TAGS, labels, paths)
    return annotations
