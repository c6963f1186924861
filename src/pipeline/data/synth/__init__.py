"""The embedded default dataset (``dataset: synth``): synthetic music in MagnaTagATune's layout.

The pipeline needs data it can produce by itself, offline and in seconds, on which every stage
(decoding, splitting by part, picking the K most frequent tags, training, AUC evaluation)
behaves as it does on MagnaTagATune. So this package synthesises short pieces of music from
latent attributes (a style, one to three instruments, maybe drums, bass and a voice, a pitch
register, a tempo, a loudness, a noise bed), derives each clip's true tags from those
attributes, and writes everything exactly as MTAT lies on disk: sixteen part folders of
29.1 s, 16 kHz mono mp3 files and a tab-separated, all-quoted, CRLF ``annotations_final.csv``.

Every clip depends only on ``(seed, clip index)``, so the dataset is the same byte for byte
whatever the number of worker processes. Tags are noisy as MTAT's are: an annotator misses a
true tag with probability ``label_noise`` and adds a spurious one at a tenth of that rate.

Modules, in the order a clip is made: :mod:`.tags` (attributes and true tags), :mod:`.music`
(notes), :mod:`.dsp`, :mod:`.timbres`, :mod:`.drums`, :mod:`.voice`, :mod:`.effects` (sound),
:mod:`.render` (the mix), :mod:`.clips` (names, noisy labels), :mod:`.writer` (mp3 files),
:mod:`.fingerprint` (the cache key) and :mod:`.dataset` (the whole dataset on disk).
"""

from pipeline.data.synth.clips import clip_path, clip_true_tags, noisy_labels
from pipeline.data.synth.dataset import SETTINGS_FILE, generate_synth_dataset
from pipeline.data.synth.dsp import CLIP_SAMPLES, CLIP_SECONDS
from pipeline.data.synth.fingerprint import generator_fingerprint
from pipeline.data.synth.render import generate_clip, render_clip
from pipeline.data.synth.tags import (
    FAST_BPM,
    INSTRUMENTS,
    SLOW_BPM,
    STYLES,
    SYNTH_TAGS,
    ClipAttributes,
    clip_tags,
    sample_attributes,
)

__all__ = [
    "CLIP_SAMPLES",
    "CLIP_SECONDS",
    "FAST_BPM",
    "INSTRUMENTS",
    "SETTINGS_FILE",
    "SLOW_BPM",
    "STYLES",
    "SYNTH_TAGS",
    "ClipAttributes",
    "clip_path",
    "clip_tags",
    "clip_true_tags",
    "generate_clip",
    "generate_synth_dataset",
    "generator_fingerprint",
    "noisy_labels",
    "render_clip",
    "sample_attributes",
]
