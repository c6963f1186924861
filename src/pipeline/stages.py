"""One function per DAG step, taking the validated params: what both drivers call.

Snakemake's scripts (workflow/scripts) and DVC's commands (``python -m pipeline STEP``) are
thin wrappers over these, and every path comes from :class:`pipeline.paths.Paths`, so the
two drivers cannot disagree about where an artefact lives. This is also where the params
dict ends: each step turns it into the typed settings of :mod:`pipeline.settings` and passes
deeper functions only the ones they use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline import atomic
from pipeline.config import TABLE_VARIANTS, Variant, figure_variants, find_variant
from pipeline.paths import Paths
from pipeline.settings import AudioSettings, Settings, SynthSettings


def synth(params: dict[str, Any], workers: int = 1) -> None:
    """Generate the embedded MTAT-layout dataset."""
    from pipeline.data.synth import generate_synth_dataset

    settings = SynthSettings.from_params(params)
    generate_synth_dataset(
        Paths.of(params).raw,
        clips_per_part=settings.clips_per_part,
        seed=settings.seed,
        label_noise=settings.label_noise,
        workers=workers,
    )


def mtat_metadata(params: dict[str, Any]) -> None:
    """Fetch MTAT's metadata, or verify an existing copy (downloads nothing when verified)."""
    from pipeline.data.download import MTAT_FILES, ensure_mtat_metadata

    paths = Paths.of(params)
    files = ensure_mtat_metadata(paths.raw, params["mtat_base_url"])  # verifies each checksum
    verified = {str(path): MTAT_FILES[path.name].sha256 for path in files}
    atomic.write_text(paths.metadata_verified, json.dumps(verified, indent=2) + "\n")


def audio_ready(params: dict[str, Any]) -> None:
    """Make the dataset's audio available (downloading MTAT's when needed) and record it."""
    from pipeline.data.datasets import prepare_audio

    paths = Paths.of(params)
    prepare_audio(params["dataset"], paths.raw, paths.audio_ready, params["mtat_base_url"])


def split(params: dict[str, Any]) -> None:
    """The part-based split with the K most frequent tags."""
    from pipeline.data.split import split_summary, write_split

    paths = Paths.of(params)
    table = write_split(
        paths.annotations, paths.split, params["split"]["n_tags"], params["split"]["flavour"]
    )
    print(split_summary(table).to_string())


def decode_audio(params: dict[str, Any], workers: int = 1) -> None:
    """Decode every clip once into the int16 audio cache; list unusable clips."""
    from pipeline.features.cache import build_audio_cache

    paths = Paths.of(params)
    build_audio_cache(
        paths.split,
        paths.raw,
        paths.audio_stem,
        paths.skipped,
        AudioSettings.from_params(params).window_samples,
        workers,
    )


def windows(params: dict[str, Any], length: int, stride: int) -> None:
    """Consecutive evaluation windows of one (length, stride) pair."""
    from pipeline.features.windows import write_windows

    paths = Paths.of(params)
    write_windows(
        Path(f"{paths.audio_stem}.csv"),
        paths.windows(length, stride),
        AudioSettings.from_params(params).window_samples,
        length,
        stride,
    )


def mel_cache(params: dict[str, Any], length: int, stride: int, workers: int = 1) -> None:
    """The compressed mel-spectrogram cache of one (length, stride) pair."""
    from pipeline.features.cache import build_mel_cache

    paths = Paths.of(params)
    build_mel_cache(
        paths.audio_stem,
        paths.mel_stem(length, stride),
        length,
        stride,
        AudioSettings.from_params(params).min_n_fft,
        workers,
    )


def _mel_stem(paths: Paths, variant: Variant) -> Path | None:
    """The mel cache a variant reads; raw-audio variants read none."""
    if variant.front_end != "spectrogram":
        return None
    return paths.mel_stem(variant.length, variant.stride)


def train(params: dict[str, Any], variant_name: str) -> None:
    """Train one variant of the grid with every seed of ``experiments.seeds``, in one job."""
    from pipeline.training.loop import TrainingJob, train_variant

    paths = Paths.of(params)
    variant = find_variant(params, variant_name)
    settings = Settings.from_params(params)
    job = TrainingJob(
        variant,
        tuple(params["experiments"]["seeds"]),
        settings.dataset,
        settings.training,
        settings.model,
        settings.audio,
        settings.evaluation,
    )
    train_variant(
        job,
        paths.split,
        paths.audio_stem,
        _mel_stem(paths, variant),
        paths.windows(variant.length, variant.stride),
        paths.variant_dir(variant.name),
    )


def evaluate(params: dict[str, Any], variant_name: str) -> None:
    """Clip-level test AUC of one trained variant, for every seed."""
    from pipeline.evaluation.evaluate import evaluate_variant

    paths = Paths.of(params)
    variant = find_variant(params, variant_name)
    settings = Settings.from_params(params)
    evaluate_variant(
        variant,
        {seed: paths.model_dir(variant.name, seed) for seed in params["experiments"]["seeds"]},
        paths.split,
        paths.audio_stem,
        _mel_stem(paths, variant),
        paths.windows(variant.length, variant.stride),
        paths.metrics(variant.name),
        paths.per_tag(variant.name),
        settings.evaluation.batch_size,
        settings.training.device,
        numerics=settings.training.numerics,
        threads=settings.training.threads,
    )


def table(params: dict[str, Any], name: str) -> None:
    """One of the paper's tables (table1-table3) or our Table 4, from the per-variant metrics."""
    from pipeline.evaluation.tables import TABLE_BUILDERS, TableInputs

    paths = Paths.of(params)
    result = TABLE_BUILDERS[name](TableInputs.from_params(params, name), paths.metrics_dir)
    atomic.write_csv(result, paths.table(name), float_format="%.4f")
    print(result.to_string(index=False))


def figures(params: dict[str, Any]) -> None:
    """The filter figures (2-4) and the training curves."""
    from pipeline.evaluation.claims import ClaimSettings
    from pipeline.evaluation.figures import write_figures

    chosen = figure_variants(params)
    write_figures(
        chosen["filters"],
        chosen["l2_groups"],
        {name: variants_of(params) for name, variants_of in TABLE_VARIANTS.items()},
        params["experiments"]["seeds"],
        Paths.of(params),
        ClaimSettings.from_params(params),
    )


def claims(params: dict[str, Any]) -> None:
    """The claims scorecard: each of the paper's findings, checked on this run."""
    from pipeline.evaluation.claims import (
        build_claims,
        claims_markdown,
        claims_metric,
        claims_table,
        seeds_that_did_not_learn,
    )

    paths = Paths.of(params)
    found = build_claims(params, paths.metrics_dir, paths.model_dir)
    untrained = seeds_that_did_not_learn(params, paths.metrics_dir)
    table = claims_table(found)
    atomic.write_csv(table, paths.claims("csv"))
    atomic.write_text(paths.claims("md"), claims_markdown(found, paths.dataset, untrained))
    metric = claims_metric(found, untrained)
    atomic.write_text(paths.claims("json"), json.dumps(metric, indent=2, sort_keys=True) + "\n")
    print(table[["claim", "verdict"]].to_string(index=False))
