"""Which seeds of a variant stall in their first updates? Live ReLUs after a short training.

Without input normalisation (the paper's setup), a spectrogram network's first SGD steps on
large log-mel inputs can silence every ReLU of its backbone, and that seed then never learns.
This trains each seed for a few updates, exactly as a training job starts (the variant's network
and initialisation, its seed's batch stream, SGD with the profile's learning rate and momentum),
and reports the first update's loss and the share of the backbone's last feature layer that is
still alive (positive on any of 50 training windows):

    python benchmarks/seed_health.py [--variant spectrogram_1024_512] [--seeds 12] [--updates 150]

Run it in a folder where the main job has built the caches (the project root after
`snakemake --cores 2`). Writes reports/bench/seed_health.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from pipeline.config import find_variant, load_params  # noqa: E402
from pipeline.determinism import configure_torch  # noqa: E402
from pipeline.paths import Paths  # noqa: E402
from pipeline.repro.numerics import cpu_model  # noqa: E402
from pipeline.settings import Settings  # noqa: E402


def seed_health(params: dict, variant_name: str, seed: int, updates: int) -> dict:
    """First loss and the live share of the last feature layer after ``updates`` updates."""
    import torch

    from pipeline.training.batches import load_window_source
    from pipeline.training.networks import build_variant_model
    from pipeline.training.sgd import MomentumSGD

    settings = Settings.from_params(params)
    variant = find_variant(params, variant_name)
    frames = settings.audio.frames(variant.length, variant.stride)
    paths = Paths.of(params)
    mel = paths.mel_stem(variant.length, variant.stride)
    source = load_window_source(
        variant,
        paths.split,
        paths.audio_stem,
        mel if variant.front_end == "spectrogram" else None,
        frames,
    )
    rows = source.rows_of("train")
    profile = settings.training.profile
    torch.manual_seed(seed)
    model = build_variant_model(variant, frames, len(source.tags), settings.model)
    optimiser = MomentumSGD(list(model.parameters()), profile.learning_rate, profile.momentum)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(updates):
        inputs, targets = source.random_batch(rng, rows, profile.batch_size)
        logits = model(torch.from_numpy(np.ascontiguousarray(inputs)))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.from_numpy(targets)
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    with torch.no_grad():
        inputs, _ = source.random_batch(rng, rows, 50)
        features = model.backbone.features(model.front_end(torch.from_numpy(inputs.copy())))
        alive = float((features > 0).any(dim=0).float().mean())
    return {
        "seed": seed,
        "first_loss": losses[0],
        "last_loss": float(np.mean(losses[-20:])),
        "alive": alive,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="spectrogram_1024_512")
    parser.add_argument("--seeds", type=int, default=12, help="seeds 1..N")
    parser.add_argument("--updates", type=int, default=150)
    args = parser.parse_args()
    params = load_params("params.yaml")
    configure_torch(params["numerics"], params["training"]["threads"])
    results = [seed_health(params, args.variant, s, args.updates) for s in range(1, args.seeds + 1)]
    report = {
        "command": f"python benchmarks/seed_health.py --variant {args.variant} --seeds "
        f"{args.seeds} --updates {args.updates}",
        "folder": os.getcwd(),
        "cpu_model": cpu_model(),
        "seeds": results,
    }
    out = REPO / "reports/bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "seed_health.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Seed health of `{args.variant}` after {args.updates} updates",
        "",
        f"`{report['command']}` in `{report['folder']}` ({report['cpu_model']}).",
        "",
        "| seed | first loss | loss, last 20 updates | live units of the last feature layer |",
        "| ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['seed']} | {r['first_loss']:.2f} | {r['last_loss']:.3f} | {r['alive']:.1%} |"
        for r in results
    ]
    dead = [r["seed"] for r in results if r["alive"] == 0]
    lines += ["", f"Seeds with no live unit: {', '.join(map(str, dead)) or 'none'}."]
    (out / "seed_health.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
