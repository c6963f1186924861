"""Run a trained network (or an ensemble of seeds) over any audio files.

A model directory is one trained model (config.json + model.pt) or a folder of them, such as
``models/synth/spectrogram_512_256`` holding ``seed1/``, ``seed2/``...: then the seeds form
an ensemble whose sigmoid outputs are averaged per window.

Each file is decoded to 16 kHz mono, cut into the consecutive, non-overlapping windows the
evaluation uses (window k starts at frame ``k * window_frames``, a trailing partial window
is dropped), and the network's per-window sigmoid outputs are averaged into one score per
tag, exactly as clip scores are computed for the paper's AUC: the decoded audio is stored as
int16 and mel frames are rounded to float16 as the caches hold them, the kernels are the
numerics the model was trained with (config.json), and the mean over windows is the
evaluation's own, and a file's windows go through the network in the batches evaluation
uses for a clip (``batch_size`` consecutive windows from its first), so a test clip gets the
very score evaluation gave it. A process whose torch already chose other kernels (it did
torch work before :func:`tag_files`) has the files scored in a fresh worker process that has
the model's (:mod:`pipeline.tagging.worker`), so the scores are still evaluation's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from tqdm import tqdm

from pipeline.constants import SAMPLE_RATE
from pipeline.data.audio import UnusableAudio, decode_clip, to_int16
from pipeline.determinism import NUMERICS_MODES, NumericsError, configure_torch, cpu_has_avx2
from pipeline.features.mel import log_mel_spectrogram, n_frames
from pipeline.metrics import average_windows
from pipeline.tagging.models import UsageError, load_models, resolve_device, trained_numerics
from pipeline.tagging.worker import score_in_worker

AUDIO_EXTENSIONS = frozenset({".mp3", ".wav", ".flac", ".ogg", ".aiff", ".aif", ".au"})
"""Files picked up when a folder is given (case-insensitive); a file named explicitly is
always tried, whatever its extension."""

FEATURE_CHUNK_WINDOWS = 32
"""Windows whose features are computed at once: bounds memory on hour-long files (the FFT of
a whole file would need gigabytes) and keeps the FFT buffers small enough to be reused."""


@dataclass
class TagResult:
    """One file's tags: averaged scores for every tag, per-window scores, or an error."""

    path: str
    tags: list[str] = field(default_factory=list)
    probabilities: np.ndarray | None = None  # (n_tags,) mean over windows
    window_probabilities: np.ndarray | None = None  # (windows, n_tags) for taggrams
    window_seconds: float = 0.0  # hop between consecutive windows
    duration_s: float = 0.0
    error: str | None = None

    @property
    def windows(self) -> int:
        return 0 if self.window_probabilities is None else len(self.window_probabilities)

    def top(self, n: int | None = 5) -> list[tuple[str, float]]:
        """The ``n`` most probable tags (all when ``n`` is None), most probable first."""
        if self.probabilities is None:
            return []
        order = np.argsort(-self.probabilities, kind="stable")[:n]
        return [(self.tags[i], float(self.probabilities[i])) for i in order]


def find_audio(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, plus audio files found recursively in folders named; sorted, no repeats.

    A path that does not exist is kept so that it is reported as ``missing`` per file.
    """
    found: set[Path] = set()
    for path in map(Path, paths):
        if path.is_dir():
            found.update(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
            )
        else:
            found.add(path)
    return sorted(found)


def window_count(n_samples: int, config: dict[str, Any]) -> int:
    """Whole consecutive windows in a file, as evaluation counts them."""
    return n_frames(n_samples, config["length"], config["stride"]) // config["window_frames"]


def window_features(audio: np.ndarray, config: dict[str, Any]) -> Iterator[np.ndarray]:
    """Model inputs of every consecutive window, in chunks of FEATURE_CHUNK_WINDOWS windows.

    ``audio`` is int16, as the audio cache holds it. Spectrogram: (n, window_frames, 128)
    float16 mel, as the mel cache holds it; raw: (n, window_samples) int16 audio. A chunk's
    audio starts exactly at its first window, so its mel frames are the same frames a mel of
    the whole file would give at those positions.
    """
    frames, stride = config["window_frames"], config["stride"]
    hop, span = frames * stride, config["window_samples"]
    count = window_count(len(audio), config)
    for first in range(0, count, FEATURE_CHUNK_WINDOWS):
        n = min(FEATURE_CHUNK_WINDOWS, count - first)
        segment = audio[first * hop : (first + n - 1) * hop + span]
        if config["front_end"] == "spectrogram":
            mel = log_mel_spectrogram(segment, config["length"], stride, config["min_n_fft"])
            yield mel[: n * frames].reshape(n, frames, -1).astype(np.float16)
        else:
            yield np.ascontiguousarray(sliding_window_view(segment, span)[::hop][:n])


class _Batcher:
    """Queues a file's windows and runs them through the networks in batches of at most
    ``batch_size`` that start at the file's first window, as evaluation batches a clip's
    windows (:func:`pipeline.training.predict.clip_batches`): the same batches give the same
    bits."""

    def __init__(
        self, models: list[torch.nn.Module], batch_size: int, device: torch.device
    ) -> None:
        self.models, self.batch_size, self.device = models, batch_size, device
        self.queue: list[tuple[int, np.ndarray]] = []
        self.queued = 0
        self.outputs: dict[int, list[np.ndarray]] = {}

    def add(self, owner: int, windows: np.ndarray) -> None:
        self.queue.append((owner, windows))
        self.queued += len(windows)
        while self.queued >= self.batch_size:
            self._run(self.batch_size)

    def end_file(self) -> None:
        """Run what is left of the current file: its last, partial batch."""
        if self.queued:
            self._run(self.queued)

    def finish(self) -> dict[int, list[np.ndarray]]:
        self.end_file()
        return self.outputs

    @torch.no_grad()
    def _run(self, size: int) -> None:
        parts, owners, taken = [], [], 0
        while taken < size:
            owner, windows = self.queue[0]
            use = min(len(windows), size - taken)
            parts.append(windows[:use])
            owners.append((owner, use))
            if use == len(windows):
                self.queue.pop(0)
            else:
                self.queue[0] = (owner, windows[use:])
            taken += use
        self.queued -= taken
        batch = torch.from_numpy(np.concatenate(parts)).to(self.device)
        scores = sum(torch.sigmoid(model(batch)).float() for model in self.models)
        scores = (scores / len(self.models)).cpu().numpy()
        start = 0
        for owner, use in owners:
            self.outputs.setdefault(owner, []).append(scores[start : start + use])
            start += use


def tag_files(
    model_dir: str | Path,
    paths: Iterable[str | Path],
    *,
    batch_size: int = 256,
    device: str = "auto",
    threads: int = 1,
    progress: bool = False,
    numerics: str | None = None,
) -> list[TagResult]:
    """Tag every audio file in ``paths`` (files or folders), in :func:`find_audio` order.

    Unusable files come back with ``error`` set instead of raising, so one bad file in a
    folder does not stop the rest; a bad model directory raises
    :class:`pipeline.tagging.models.UsageError`. ``threads`` is 1 by default, as in
    evaluation: MKL's reproducible mode gives the same bits only for the same thread count.
    ``numerics`` None runs the kernels the model was trained with (config.json); ``"native"``
    runs this CPU's own. Where this process can no longer have the kernels asked for (torch
    already chose others: a tensor operation ran first), the files are scored in a fresh
    worker process that has them, with a note on stderr; where this CPU cannot have them at
    all (portable numerics without AVX2), that is a usage error saying what to do.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if numerics is not None and numerics not in NUMERICS_MODES:
        raise UsageError(f"numerics {numerics!r}: use one of {', '.join(NUMERICS_MODES)}")
    torch_device = resolve_device(device)
    mode = numerics or trained_numerics(model_dir)
    files = find_audio(paths)
    try:
        _use_numerics(mode, threads, model_dir, asked=numerics is not None, device=torch_device)
    except _KernelsAlreadyChosen as late:
        print(
            f"note: {late.reason}; tagging in a fresh worker process with the model's {mode} "
            "numerics, so that the scores are evaluation's",
            file=sys.stderr,
        )
        return score_in_worker(
            model_dir,
            files,
            batch_size=batch_size,
            threads=threads,
            numerics=mode,
            asked=numerics is not None,
            progress=progress,
        )
    return _score_files(model_dir, files, batch_size, torch_device, progress)


def tag_files_here(
    model_dir: str,
    files: list[str],
    batch_size: int,
    threads: int,
    numerics: str,
    asked: bool,
    progress: bool,
) -> list[TagResult]:
    """:func:`tag_files` of ``files`` on the CPU in this process, never in a worker (what
    the worker itself runs): kernels this process cannot have are a usage error."""
    device = torch.device("cpu")
    _use_numerics(numerics, threads, model_dir, asked=asked, device=device)
    return _score_files(model_dir, [Path(f) for f in files], batch_size, device, progress)


def _score_files(
    model_dir: str | Path,
    files: list[Path],
    batch_size: int,
    device: torch.device,
    progress: bool,
) -> list[TagResult]:
    """Decode, cut and score ``files`` with the numerics already set."""
    models, config = load_models(model_dir, device)
    results = [TagResult(str(path), list(config["tags"])) for path in files]
    batcher = _Batcher(models, batch_size, device)
    hop_samples = config["window_frames"] * config["stride"]
    for index, path in enumerate(tqdm(files, unit="file", file=sys.stderr, disable=not progress)):
        try:
            audio = to_int16(decode_clip(path, config["window_samples"]))
        except UnusableAudio as error:
            results[index].error = error.reason + (f" ({error.detail})" if error.detail else "")
            continue
        except OSError as error:  # e.g. no read permission
            results[index].error = f"unreadable ({error.strerror or error})"
            continue
        results[index].duration_s = len(audio) / SAMPLE_RATE
        results[index].window_seconds = hop_samples / SAMPLE_RATE
        for windows in window_features(audio, config):
            batcher.add(index, windows)
        batcher.end_file()
    for index, scores in batcher.finish().items():
        window_scores = np.concatenate(scores)
        _, clip_scores = average_windows(np.zeros(len(window_scores), int), window_scores)
        results[index].window_probabilities = window_scores
        results[index].probabilities = clip_scores[0]
    return results


class _KernelsAlreadyChosen(UsageError):
    """The kernels asked for cannot be had in this process, but a fresh one can have them."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _use_numerics(
    mode: str, threads: int, model_dir: str | Path, asked: bool, device: torch.device
) -> None:
    """Run the kernels ``mode`` names (the model's own unless ``asked`` for), so that a test
    clip gets the very score evaluation gave it; a process that cannot have them is a usage
    error saying what to do (:class:`_KernelsAlreadyChosen` when a fresh process can), never
    scores that quietly differ from evaluation's."""
    try:
        configure_torch(mode, threads, device=str(device))
    except NumericsError as error:
        wanted = (
            "--numerics portable asks for portable numerics"
            if asked
            else "it was trained with portable numerics"
        )
        message = f"model {model_dir}: {wanted}{_portable_numerics_fix(error)}"
        if error.too_late:
            raise _KernelsAlreadyChosen(message, str(error).split(";")[0]) from error
        raise UsageError(message) from error


_NATIVE_FIX = (
    "pass --numerics native (from Python: tag_files(..., numerics='native')) to tag with this "
    "CPU's own kernels; scores may then differ from evaluation's in their last digits"
)
"""The way out when portable numerics cannot be had: tagging still works, only not to the bit."""


def _portable_numerics_fix(error: NumericsError) -> str:
    """Why portable numerics cannot be had here, and the fix: no AVX2 on this CPU can only be
    worked around; anything else is named as it is."""
    if not cpu_has_avx2():
        capability = torch.backends.cpu.get_cpu_capability()
        return (
            f", which need a CPU with AVX2, and this CPU lacks it (torch runs its {capability} "
            f"kernels); {_NATIVE_FIX}"
        )
    return f", which this process cannot have ({error}); to tag anyway, {_NATIVE_FIX}"
