# Paths and variant lists derived from the validated config; shared by every rule file.
# Each rule lists as `code` what its step runs (step_code_files), namely the modules it imports,
# pipeline/stages.py and the rule's own script in workflow/scripts/, so editing one reruns
# exactly the jobs whose results it can change, as DVC's stages do.
import sys
from pathlib import Path

from pipeline.config import (
    all_variants,
    find_variant,
    multiply_adds_per_window,
    training_keys,
    values_at,
)
from pipeline.paths import Paths
from pipeline.code_deps import step_code_files
from pipeline.training.gpu_jobs import GPU_RULES, gpu_request, local_gpu_budget

PATHS = Paths.of(config)
DATASET = PATHS.dataset
RAW = PATHS.raw
INTERIM = str(PATHS.interim)
PROCESSED = str(PATHS.processed)
MODELS = f"models/{DATASET}"
METRICS = str(PATHS.metrics_dir)
VARIANTS = [v.name for v in all_variants(config)]
SEEDS = config["experiments"]["seeds"]
# Scheduling (Snakemake's `priority`): the short cache jobs first, as every training job waits
# for its windows and spectrogram models for a mel cache; then training jobs costliest first,
# so that no long job starts last and leaves the other cores idle at the end of the run.
CACHE_PRIORITY = len(VARIANTS)
TRAIN_PRIORITY = {
    v.name: rank
    for rank, v in enumerate(
        sorted(all_variants(config), key=lambda v: multiply_adds_per_window(v, config))
    )
}
# What the split reads: MTAT's metadata only once verified; other datasets' annotations as is.
METADATA = str(PATHS.metadata_verified if DATASET == "mtat" else PATHS.annotations)

wildcard_constraints:
    variant="|".join(VARIANTS),
    seed=r"\d+",
    length=r"\d+",
    stride=r"\d+",


def mel_stem_of(variant_name):
    """The mel cache a variant reads: none for raw-audio variants."""
    variant = find_variant(config, variant_name)
    if variant.front_end != "spectrogram":
        return []
    return [f"{PATHS.mel_stem(variant.length, variant.stride)}.bin"]


def windows_of(variant_name):
    variant = find_variant(config, variant_name)
    return str(PATHS.windows(variant.length, variant.stride))


def rule_threads(rule_name):
    """The rule's threads from params.yaml `resources` (1 when it names none)."""
    return config["resources"].get(rule_name, {}).get("threads", 1)


def rule_resources(rule_name):
    """What a job of the rule asks a scheduler for, `resources.default` overlaid with the rule's
    entry (threads are `threads:`, not a resource). Training and evaluation (GPU_RULES) run
    their networks on `training.device` and ask for `resources.train`'s GPU when that may be
    CUDA (gpu_request); `gpu: 0` or `training.device: cpu` drops the request (and its model)
    entirely, so a CPU-only cluster never sees `--gpus`."""
    wanted = {**config["resources"]["default"], **config["resources"].get(rule_name, {})}
    for name in ("threads", "gpu", "gpu_model"):
        wanted.pop(name, None)
    if rule_name in GPU_RULES:
        wanted.update(gpu_request(config))
    return wanted


def default_gpu_budget():
    """`--resources gpu=N` for a local run that names none, where CUDA is visible and the
    GPU jobs ask for it (local_gpu_budget): one GPU job at a time, so `--cores 8` cannot start
    eight training jobs on one GPU. Not on a cluster (`--jobs`: each job its own GPU), nor in
    the Snakemake that runs one job there (not the main process)."""
    budget = local_gpu_budget(
        config,
        given="gpu" in workflow.global_resources,
        local=workflow.is_main_process and workflow.resource_settings.nodes is None,
    )
    if budget is not None:
        workflow.register_resource("gpu", budget)
        print(
            f"CUDA is visible: at most one GPU job at a time (--resources gpu={budget}, the "
            "default of a local run on a GPU; name another --resources gpu=N to change it)",
            file=sys.stderr,
        )
    return budget


default_gpu_budget()
