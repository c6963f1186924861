"""Tag your own music with a trained network: ``e2e-tag --model DIR PATH...``.

``DIR`` is one trained model (config.json + model.pt) or a folder of them, such as
``models/synth/spectrogram_512_256`` holding ``seed1/``, ``seed2/``...: then the seeds form
an ensemble whose sigmoid outputs are averaged per window.

Each file is decoded to 16 kHz mono, cut into the consecutive, non-overlapping windows the
evaluation uses (window k starts at frame ``k * window_frames``, a trailing partial window
is dropped), and the network's per-window sigmoid outputs are averaged into one score per
tag, exactly as clip scores are computed for the paper's AUC. Windows of several files share
forward passes (``--batch-size``), so many short clips tag as fast as one long file.

Taggrams (``--taggram OUT``): with one input file, ``OUT`` is the image path itself
(``.png`` is added if missing). With several files, an ``OUT`` ending in ``.png`` becomes
``OUT_<stem>.png`` per file, and any other ``OUT`` is a folder that receives ``<stem>.png``
per file; a stem used twice gets ``_2``, ``_3``... in input order.

A file that cannot be used (missing, empty, undecodable, truncated, shorter than one window)
is reported as ``error: PATH: reason`` on stderr and the others are still tagged; the exit
status is then 1. Usage errors (such as a model directory without ``config.json`` and
``model.pt``) exit with status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from tqdm import tqdm

from pipeline.constants import SAMPLE_RATE
from pipeline.data.audio import UnusableAudio, decode_clip
from pipeline.features.mel import log_mel_spectrogram, n_frames
from pipeline.training.networks import load_trained, select_device

AUDIO_EXTENSIONS = frozenset({".mp3", ".wav", ".flac", ".ogg", ".aiff", ".aif", ".au"})
"""Files picked up when a folder is given (case-insensitive); a file named explicitly is
always tried, whatever its extension."""

FEATURE_CHUNK_WINDOWS = 32
"""Windows whose features are computed at once: bounds memory on hour-long files (the FFT of
a whole file would need gigabytes) and keeps the FFT buffers small enough to be reused."""

TAGGRAM_MAX_TAGS = 30
"""A taggram shows every tag of a model with at most this many tags, else the top ones."""


class UsageError(ValueError):
    """A model directory that is not a trained model, or an unusable device (exit 2)."""


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


INPUT_KEYS = ("front_end", "length", "stride", "window_frames", "window_samples", "min_n_fft")
"""config.json keys that fix a model's input windows; models averaged must share them (and tags)."""


def model_dirs(model_dir: str | Path) -> list[Path]:
    """``model_dir`` if it is a trained model, else its subfolders that are (one per seed)."""
    model_dir = Path(model_dir)
    if (model_dir / "config.json").is_file() or not model_dir.is_dir():
        return [model_dir]
    found = sorted(
        p.parent for p in model_dir.glob("*/config.json") if p.with_name("model.pt").is_file()
    )
    return found or [model_dir]


def load_models(
    model_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[list[torch.nn.Module], dict[str, Any]]:
    """Every model of :func:`model_dirs` and the first one's config.json.

    Raises :class:`UsageError` if they disagree on the input they take or the tags they give.
    """
    paths = model_dirs(model_dir)
    loaded = [load_model(path, device) for path in paths]
    config = loaded[0][1]
    for path, (_, other) in zip(paths, loaded, strict=True):
        differ = [key for key in (*INPUT_KEYS, "tags") if other.get(key) != config.get(key)]
        if differ:
            raise UsageError(
                f"model directory {model_dir}: {path} differs from the first model in "
                f"{', '.join(differ)}; cannot average them (pass one model directory)"
            )
    return [model for model, _ in loaded], config


def load_model(
    model_dir: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """:func:`pipeline.training.networks.load_trained`, with a usage error saying what DIR holds."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file() or not (model_dir / "model.pt").is_file():
        what = "does not exist" if not model_dir.is_dir() else "is not a trained model"
        raise UsageError(
            f"model directory {model_dir} {what}: it should contain config.json and model.pt "
            "written by training (or one such folder per seed), e.g. "
            "models/synth/spectrogram_512_256"
        )
    try:
        return load_trained(model_dir, device)
    except (ValueError, KeyError, RuntimeError, OSError) as error:
        raise UsageError(f"model directory {model_dir}: cannot load: {error}") from error


def resolve_device(device: str) -> torch.device:
    """The ``--device`` option as a torch device; a device that cannot be had is a usage error."""
    try:
        return select_device(device, "--device")
    except ValueError as error:
        raise UsageError(str(error)) from error


def window_count(n_samples: int, config: dict[str, Any]) -> int:
    """Whole consecutive windows in a file, as evaluation counts them."""
    return n_frames(n_samples, config["length"], config["stride"]) // config["window_frames"]


def window_features(audio: np.ndarray, config: dict[str, Any]) -> Iterator[np.ndarray]:
    """Model inputs of every consecutive window, in chunks of FEATURE_CHUNK_WINDOWS windows.

    Spectrogram: (n, window_frames, 128) float32 mel; raw: (n, window_samples) float32 audio.
    A chunk's audio starts exactly at its first window, so its mel frames are the same frames
    a mel of the whole file would give at those positions.
    """
    frames, stride = config["window_frames"], config["stride"]
    hop, span = frames * stride, config["window_samples"]
    count = window_count(len(audio), config)
    for first in range(0, count, FEATURE_CHUNK_WINDOWS):
        n = min(FEATURE_CHUNK_WINDOWS, count - first)
        segment = audio[first * hop : (first + n - 1) * hop + span]
        if config["front_end"] == "spectrogram":
            mel = log_mel_spectrogram(segment, config["length"], stride, config["min_n_fft"])
            yield mel[: n * frames].reshape(n, frames, -1)
        else:
            yield np.ascontiguousarray(sliding_window_view(segment, span)[::hop][:n])


class _Batcher:
    """Queues windows from any number of files and runs full batches through the network."""

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

    def finish(self) -> dict[int, list[np.ndarray]]:
        if self.queued:
            self._run(self.queued)
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
    progress: bool = False,
) -> list[TagResult]:
    """Tag every audio file in ``paths`` (files or folders), in :func:`find_audio` order.

    Unusable files come back with ``error`` set instead of raising, so one bad file in a
    folder does not stop the rest; a bad model directory raises :class:`UsageError`.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    torch_device = resolve_device(device)
    models, config = load_models(model_dir, torch_device)
    files = find_audio(paths)
    results = [TagResult(str(path), list(config["tags"])) for path in files]
    batcher = _Batcher(models, batch_size, torch_device)
    hop_samples = config["window_frames"] * config["stride"]
    for index, path in enumerate(tqdm(files, unit="file", file=sys.stderr, disable=not progress)):
        try:
            audio = decode_clip(path, config["window_samples"])
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
    for index, scores in batcher.finish().items():
        results[index].window_probabilities = np.concatenate(scores)
        results[index].probabilities = results[index].window_probabilities.mean(axis=0)
    return results


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


def _write_table(results: Sequence[TagResult], top: int, stream) -> None:
    for result in results:
        if result.error is not None:
            continue
        print(f"{result.path}  ({result.duration_s:.1f} s, {result.windows} windows)", file=stream)
        width = max(len(tag) for tag, _ in result.top(top))
        for rank, (tag, probability) in enumerate(result.top(top), start=1):
            print(f"  {rank:>2}. {tag:<{width}}  {probability:.3f}", file=stream)


def _write_json(results: Sequence[TagResult], top: int, stream) -> None:
    rows = [
        {"path": r.path, "error": r.error}
        if r.error is not None
        else {
            "path": r.path,
            "tags": [{"tag": t, "probability": round(p, 4)} for t, p in r.top(top)],
            "windows": r.windows,
            "duration_s": round(r.duration_s, 3),
        }
        for r in results
    ]
    # one file per line: readable, greppable, and still a single valid JSON document
    stream.write("[\n" + ",\n".join(f"  {json.dumps(row)}" for row in rows) + "\n]\n")


def _write_csv(results: Sequence[TagResult], top: int, stream) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["path", "rank", "tag", "probability"])
    for result in results:
        for rank, (tag, probability) in enumerate(result.top(top), start=1):
            writer.writerow([result.path, rank, tag, f"{probability:.4f}"])


WRITERS = {"table": _write_table, "json": _write_json, "csv": _write_csv}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="e2e-tag",
        description="Tag music files with a trained end-to-end tagging network: the scores of "
        "consecutive ~3 s windows are averaged per file, as in the paper's evaluation.",
        epilog="Exit status: 0 all files tagged, 1 some file could not be used "
        "(one 'error: PATH: reason' line each on stderr), 2 usage error.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    parser.add_argument(
        "--model",
        required=True,
        metavar="DIR",
        help="trained model dir (config.json, model.pt), or a folder of them (one per seed: "
        "their outputs are averaged)",
    )
    parser.add_argument("--top", type=_positive, default=5, metavar="N", help="tags per file")
    parser.add_argument("--format", choices=sorted(WRITERS), default="table")
    parser.add_argument(
        "--taggram",
        metavar="OUT",
        help="draw tags over time: OUT.png for one file; OUT_<stem>.png per file when OUT "
        "ends in .png, else OUT/<stem>.png, for several",
    )
    parser.add_argument(
        "--batch-size", type=_positive, default=256, help="windows per forward pass"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    files = find_audio(args.paths)
    if not files:
        print(f"error: no audio files found in {' '.join(args.paths)}", file=sys.stderr)
        return 2
    try:
        results = tag_files(
            args.model,
            files,
            batch_size=args.batch_size,
            device=args.device,
            progress=len(files) > 1 and not args.quiet,
        )
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for result in results:
        if result.error is not None:
            print(f"error: {result.path}: {result.error}", file=sys.stderr)
    WRITERS[args.format](results, args.top, sys.stdout)
    if args.taggram:
        for result, out in zip(results, taggram_paths(args.taggram, results), strict=True):
            if result.error is None:
                draw_taggram(result, out)
    return 1 if any(r.error is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
