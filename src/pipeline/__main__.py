"""Command line of the DAG's steps: ``python -m pipeline STEP [options]`` (what dvc.yaml runs).

Settings come from params.yaml (``--params`` to use another file); every step validates it
first, so a bad value stops the step with the key's name before anything is written.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipeline import stages
from pipeline.config import ParamsError, load_params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: params.yaml)"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes for decoding/mel"
    )
    sub = parser.add_subparsers(dest="step", required=True)
    for name in (
        "synth", "mtat-metadata", "audio-ready", "split", "decode-audio", "figures", "claims"
    ):
        sub.add_parser(name)
    sub.add_parser("table").add_argument("name", choices=["table1", "table2", "table3", "table4"])
    for name in ("windows", "mel-cache"):
        step = sub.add_parser(name)
        step.add_argument("--length", type=int, required=True)
        step.add_argument("--stride", type=int, required=True)
    sub.add_parser("evaluate").add_argument("--variant", required=True)
    sub.add_parser("train").add_argument("--variant", required=True)
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
    except ParamsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    step = args.step
    if step == "synth":
        stages.synth(params, args.workers)
    elif step == "mtat-metadata":
        stages.mtat_metadata(params)
    elif step == "audio-ready":
        stages.audio_ready(params)
    elif step == "split":
        stages.split(params)
    elif step == "decode-audio":
        stages.decode_audio(params, args.workers)
    elif step == "windows":
        stages.windows(params, args.length, args.stride)
    elif step == "mel-cache":
        stages.mel_cache(params, args.length, args.stride, args.workers)
    elif step == "train":
        stages.train(params, args.variant)
    elif step == "evaluate":
        stages.evaluate(params, args.variant)
    elif step == "table":
        stages.table(params, args.name)
    elif step == "figures":
        stages.figures(params)
    elif step == "claims":
        stages.claims(params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
