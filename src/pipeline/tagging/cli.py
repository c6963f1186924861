"""Tag your own music with a trained network: ``e2e-tag --model DIR PATH...``.

``DIR`` is one trained model or a folder of seeds (averaged); see
:mod:`pipeline.tagging.inference` for how files are cut into windows and scored, and
:mod:`pipeline.tagging.taggram` for how ``--taggram OUT`` names its images.

A file that cannot be used (missing, empty, undecodable, truncated, shorter than one window)
is reported as ``error: PATH: reason`` on stderr and the others are still tagged; the exit
status is then 1. Usage errors (such as a model directory without ``config.json`` and
``model.pt``, or a model trained with portable numerics on a CPU without AVX2 unless
``--numerics native`` is given) exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipeline.determinism import NUMERICS_MODES
from pipeline.tagging.formats import FORMATS
from pipeline.tagging.inference import find_audio, tag_files
from pipeline.tagging.models import UsageError
from pipeline.tagging.taggram import draw_taggram, taggram_paths


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``e2e-tag`` options; the epilog states the exit statuses."""
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
    parser.add_argument("--format", choices=sorted(FORMATS), default="table")
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
    parser.add_argument(
        "--threads",
        type=_positive,
        default=1,
        help="CPU threads (default 1, as evaluation: then scores equal evaluation's exactly)",
    )
    parser.add_argument(
        "--numerics",
        choices=NUMERICS_MODES,
        help="CPU kernels (default: the model's own, from config.json, so scores equal "
        "evaluation's); native: this CPU's own, e.g. for a model trained with portable "
        "numerics on a CPU without AVX2 (scores may differ in their last digits)",
    )
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
            threads=args.threads,
            progress=len(files) > 1 and not args.quiet,
            numerics=args.numerics,
        )
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for result in results:
        if result.error is not None:
            print(f"error: {result.path}: {result.error}", file=sys.stderr)
    FORMATS[args.format](results, args.top, sys.stdout)
    if args.taggram:
        for result, out in zip(results, taggram_paths(args.taggram, results), strict=True):
            if result.error is None:
                draw_taggram(result, out)
    return 1 if any(r.error is not None for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
