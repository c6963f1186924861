"""Make a dataset's audio available: generate (synth), download or reuse (mtat), or check (folder).

Whatever the source, what comes out is a folder in MagnaTagATune's layout, and every later
step treats it the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline import atomic
from pipeline.constants import ANNOTATIONS_FILE


def prepare_audio(dataset: str, raw: Path, marker: Path, base_url: str | None = None) -> dict:
    """Ensure the part folders exist (downloading MTAT's audio if needed); write a marker JSON."""
    if dataset == "mtat":
        from pipeline.data.download import ensure_mtat_audio

        ensure_mtat_audio(raw, base_url) if base_url else ensure_mtat_audio(raw)
    annotations = raw / ANNOTATIONS_FILE
    if not annotations.is_file():
        raise FileNotFoundError(
            f"{annotations}: not found; a dataset folder needs annotations_final.csv in "
            "MagnaTagATune's format (see README, 'Datasets')"
        )
    info = {"dataset": dataset, "audio_root": str(raw)}
    atomic.write_text(marker, json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info
