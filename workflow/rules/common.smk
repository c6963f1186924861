# Paths and variant lists derived from the validated config; shared by every rule file.
# Every rule lists as `code` the modules its step imports (step_code), so editing one reruns
# exactly the jobs whose results it can change, as DVC's stages do.
from pathlib import Path

from pipeline.config import all_variants, find_variant, training_keys, values_at
from pipeline.paths import Paths
from pipeline.code_deps import step_code_files

PATHS = Paths.of(config)
DATASET = PATHS.dataset
RAW = PATHS.raw
INTERIM = str(PATHS.interim)
PROCESSED = str(PATHS.processed)
MODELS = f"models/{DATASET}"
METRICS = str(PATHS.metrics_dir)
VARIANTS = [v.name for v in all_variants(config)]
SEEDS = config["experiments"]["seeds"]
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
    """What a job of the rule asks a scheduler for: `resources.default` overlaid with the rule's
    entry. `gpu: 0` drops the GPU request (and its model) entirely, so a CPU-only cluster
    never sees `--gpus`; threads are `threads:`, not a resource."""
    wanted = {**config["resources"]["default"], **config["resources"].get(rule_name, {})}
    wanted.pop("threads", None)
    if not wanted.get("gpu"):
        wanted.pop("gpu", None)
        wanted.pop("gpu_model", None)
    elif wanted.get("gpu_model") is None:
        wanted.pop("gpu_model")
    return wanted
