"""Load and check params.yaml, and derive what follows from it (variants, paths, windows).

The schema catches wrong types and values; :func:`validate_params` adds the checks a schema
cannot express (a missing folder, a training profile that does not exist, a grid pair the
architecture cannot use). Every error names the offending key, so a bad value stops a run up
front with one clear message and before anything is written.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pipeline.constants import MIN_N_FFT_FULL_MEL, N_MELS, SAMPLE_RATE

PARAMS_FILE = "params.yaml"


class ParamsError(ValueError):
    """A value in params.yaml (or a --config override) is invalid; the message names the key."""


def load_schema() -> dict[str, Any]:
    """The JSON schema of params.yaml, shipped inside the package."""
    text = resources.files("pipeline").joinpath("params.schema.yaml").read_text()
    return yaml.safe_load(text)


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Read params.yaml and validate it; raises :class:`ParamsError` naming the bad key."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found (run from the repository root)")
    params = yaml.safe_load(path.read_text())
    validate_params(params)
    return params


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


_SCHEMA_FIXES = {
    ("synth.clips_per_part", "minimum"): (
        "the validation part 'c' gets clips_per_part clips, and a validation AUC needs a clip "
        "with a tag and one without it; use at least 2"
    ),
    ("synth.label_noise", "exclusiveMaximum"): (
        "it is the chance that a true tag is missed, and at 1 every tag is; use a value below 1"
    ),
    ("experiments.table1", "uniqueItems"): (
        "each (length, stride) pair is one row of Table 1; remove the repeated one"
    ),
    ("experiments.table3.poolings", "uniqueItems"): (
        "each pooling is one row of Table 3; remove the repeated one"
    ),
    ("experiments.table4.pairs", "uniqueItems"): (
        "each (length, stride) pair is one group of rows of Table 4; remove the repeated one"
    ),
}
"""What to do about a schema error the bare schema message does not explain, by (key, rule)."""


def _is_integer(checker: Any, instance: Any) -> bool:
    """JSON Schema counts 32.0 as an integer, but torch and folder names (``seed1.0``) do not;
    and a bool is an int to Python only."""
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)
"""The schema's validator with ``type: integer`` meaning a Python int, for every integer key."""


def _is_integral_float(error: jsonschema.ValidationError) -> bool:
    """An integer key given as a whole float (``32.0``): a typo with an obvious fix."""
    expected = error.validator_value
    wants_integer = "integer" in (expected if isinstance(expected, list) else [expected])
    value = error.instance
    return wants_integer and isinstance(value, float) and value.is_integer()


def _schema_message(error: jsonschema.ValidationError) -> str:
    """The schema's complaint, naming the repeated item for ``uniqueItems``, plus the fix."""
    message = error.message
    if error.validator == "type" and _is_integral_float(error):
        message = f"{error.instance} is a float; write it as an integer ({int(error.instance)})"
    if error.validator == "uniqueItems":
        items = error.instance
        repeat = next(i for i, item in enumerate(items) if item in items[:i])
        message = f"item {repeat} repeats item {items.index(items[repeat])} ({items[repeat]})"
    fix = _SCHEMA_FIXES.get((_key_path(error), str(error.validator)))
    return f"{message}: {fix}" if fix else message


def merge_params(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with nested overrides from ``update`` applied (what ``--configfile`` does)."""
    merged = dict(base)
    for key, value in update.items():
        nested = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = merge_params(base[key], value) if nested else value
    return merged


def validate_params(params: dict[str, Any]) -> None:
    """Check params against the schema and the cross-field rules; raise on the first problem."""
    validator = _Validator(load_schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ParamsError(f"params.yaml: key '{_key_path(first)}': {_schema_message(first)}{more}")
    training_profile(params)
    if params["dataset"] == "folder" and not params.get("folder_dir"):
        raise ParamsError(
            "params.yaml: key 'folder_dir': dataset 'folder' needs folder_dir set to a folder in "
            "MagnaTagATune's layout (e.g. --config dataset=folder folder_dir=/path/to/music)"
        )
    _check_mel_fft(params)
    _check_pairs(params)
    _check_variants(params)
    _check_claims(params)


def _check_mel_fft(params: dict[str, Any]) -> None:
    """A smaller FFT leaves mel bands without a single frequency bin: constant, useless inputs."""
    min_n_fft = params["audio"]["min_n_fft"]
    if min_n_fft < MIN_N_FFT_FULL_MEL:
        raise ParamsError(
            f"params.yaml: key 'audio.min_n_fft': {min_n_fft} leaves some of the mel bands "
            f"empty; use at least {MIN_N_FFT_FULL_MEL} (e.g. the default 1024)"
        )


def _located_pairs(params: dict[str, Any]) -> list[tuple[str, dict[str, int]]]:
    """Every (length, stride) pair of the grid with the key it is written under."""
    experiments = params["experiments"]
    located = [(f"experiments.table1[{i}]", p) for i, p in enumerate(experiments["table1"])]
    located += [
        (f"experiments.table4.pairs[{i}]", p) for i, p in enumerate(experiments["table4"]["pairs"])
    ]
    located += [(f"experiments.{t}", experiments[t]) for t in ("table2", "table3")]
    located += [("experiments.figures.filters_pair", experiments["figures"]["filters_pair"])]
    return located


def _check_pairs(params: dict[str, Any]) -> None:
    """Every (length, stride) pair must frame audio without gaps and suit the architecture.

    A pair that fails while another pair passes is itself what to change, so its key is
    named; when every pair fails, the window or the conv blocks are, and their key is named.
    """
    located = _located_pairs(params)
    for key, pair in located:
        if pair["stride"] > pair["length"]:
            raise ParamsError(
                f"params.yaml: key '{key}': stride {pair['stride']} exceeds length "
                f"{pair['length']}; frames would skip audio"
            )
    window_samples, model = window_length_samples(params), params["model"]
    problems = [(key, _pair_problem(window_samples, pair, model)) for key, pair in located]
    failed = [(key, problem) for key, problem in problems if problem]
    if not failed:
        return
    if len(failed) < len(located):
        key, problem = failed[0]
        raise ParamsError(f"params.yaml: key '{key}': {problem}")
    raise _window_or_model_error(params, located)


def _pair_problem(window_samples: int, pair: dict[str, int], model: dict[str, Any]) -> str | None:
    """Why a window of ``window_samples`` cannot feed the network with this pair, or None."""
    try:
        frames = frames_per_window(window_samples, pair["length"], pair["stride"])
        backbone_output_length(frames, model)
    except ValueError as error:
        return str(error)
    return None


def min_backbone_frames(model: dict[str, Any]) -> int:
    """The fewest frames the two conv + max-pool blocks take: block 1 must leave
    ``pool_size * (conv_length - 1) + 1`` steps so that pooling leaves ``conv_length``."""
    return model["pool_size"] * (model["conv_length"] - 1) + model["conv_length"]


def _window_or_model_error(
    params: dict[str, Any], located: list[tuple[str, dict[str, int]]]
) -> ParamsError:
    """Every pair fails: blame the window if it cannot hold some pair's frame (no model fits
    that), else the conv blocks, naming the first pair and the one closest to passing."""
    window_samples, model = window_length_samples(params), params["model"]
    needed = min_backbone_frames(model)
    seconds = params["audio"]["window_seconds"]
    longest = max(_needed_window_samples(pair, needed) for _, pair in located)
    fix = f"audio.window_seconds of at least {math.ceil(longest / SAMPLE_RATE * 100) / 100:g}"
    too_long = [(key, p) for key, p in located if p["length"] > window_samples]
    if too_long:
        key, pair = too_long[0]
        return ParamsError(
            f"params.yaml: key 'audio.window_seconds': {seconds} s ({window_samples} samples) "
            f"is shorter than a frame of '{key}' (length {pair['length']}) and gives no pair "
            f"the {needed} frames the conv blocks need; use an {fix}"
        )
    frames = [(frames_per_window(window_samples, p["length"], p["stride"]), k) for k, p in located]
    (first, first_key), (most, most_key) = frames[0], max(frames, key=lambda f: f[0])
    return ParamsError(
        f"params.yaml: key '{_blocks_key(model, most)}': the conv blocks (conv_length "
        f"{model['conv_length']}, pool_size {model['pool_size']}) need {needed} frames per "
        f"window, more than any pair gets from {seconds} s of audio (e.g. '{first_key}' gets "
        f"{first}; '{most_key}' gets the most, {most}); use a smaller model.conv_length or "
        f"model.pool_size, or an {fix}"
    )


def _blocks_key(model: dict[str, Any], frames: int) -> str:
    """Which of conv_length and pool_size to name when ``frames`` are too few: the blocks need
    ``(pool_size + 1) * (conv_length - 1) + 1`` frames, so the larger factor's key; conv_length
    when block 1 alone fails, as no pool_size helps there."""
    conv_length, pool_size = model["conv_length"], model["pool_size"]
    if frames >= conv_length and pool_size + 1 > conv_length - 1:
        return "model.pool_size"
    return "model.conv_length"


def _needed_window_samples(pair: dict[str, int], frames: int) -> int:
    """The shortest window that gives this pair ``frames`` frames."""
    return pair["length"] + (frames - 1) * pair["stride"]


def _check_variants(params: dict[str, Any]) -> None:
    """Feature pools must divide the strided layer's filters (Table 3 and Figure 4)."""
    filters = params["model"]["raw_filters"]
    for index, pooling in enumerate(params["experiments"]["table3"]["poolings"]):
        if filters % pooling["size"]:
            raise ParamsError(
                f"params.yaml: key 'experiments.table3.poolings[{index}].size': {pooling['size']} "
                f"does not divide model.raw_filters ({filters})"
            )
        if (pooling["type"] == "none") != (pooling["size"] == 1):
            raise ParamsError(
                f"params.yaml: key 'experiments.table3.poolings[{index}]': type 'none' goes with "
                "size 1, and only with size 1"
            )
    if filters % params["experiments"]["figures"]["l2_pool_size"]:
        raise ParamsError(
            "params.yaml: key 'experiments.figures.l2_pool_size': must divide model.raw_filters"
        )


def _check_claims(params: dict[str, Any]) -> None:
    """A permutation test's smallest p-value is 1 / (permutations + 1): it must be able to
    fall below the threshold, or the pools finding could never hold."""
    claims = params["claims"]
    smallest = 1 / (claims["pool_permutations"] + 1)
    if smallest >= claims["pool_p_value"]:
        needed = math.ceil(1 / claims["pool_p_value"])
        raise ParamsError(
            f"params.yaml: key 'claims.pool_permutations': {claims['pool_permutations']} "
            f"permutations cannot give a p-value below claims.pool_p_value "
            f"({claims['pool_p_value']}); use at least {needed}"
        )


def window_length_samples(params: dict[str, Any]) -> int:
    """The nominal input window (about 3 s) in samples."""
    return seconds_to_samples(params["audio"]["window_seconds"])


def seconds_to_samples(seconds: float) -> int:
    """A duration in samples at the pipeline's rate, rounded to the nearest sample."""
    return int(round(seconds * SAMPLE_RATE))


def frames_per_window(window_samples: int, length: int, stride: int) -> int:
    """Frames of a (length, stride) framing that fit in a window, without padding."""
    if window_samples < length:
        raise ValueError(
            f"the window ({window_samples} samples) is shorter than a frame ({length})"
        )
    return 1 + (window_samples - length) // stride


def backbone_output_length(frames: int, model: dict[str, Any]) -> int:
    """Time steps left after the two conv + max-pool blocks; pooling rounds up like Theano's."""
    length = frames
    for block in (1, 2):
        length = length - model["conv_length"] + 1
        if length < 1:
            raise ValueError(
                f"only {frames} frames per window: too few for conv block {block} "
                f"(filter length {model['conv_length']}); use a longer window or smaller stride"
            )
        length = math.ceil(length / model["pool_size"])
    return length


NONLINEARITY_SUFFIX = {"relu": "", "log_x2": "_logx2", "log_abs_x": "_logabsx"}
POOLING_SUFFIX = {"none": "", "l2": "_l2pool", "max": "_maxpool"}
INIT_SUFFIX = {"random": "", "mel": "_melinit"}


@dataclass(frozen=True)
class Variant:
    """One network of the grid: a front end, a (length, stride) pair and the strided layer's
    nonlinearity, feature pooling and initialisation (raw audio only; defaults = Table 1)."""

    front_end: str
    length: int
    stride: int
    nonlinearity: str = "relu"
    pooling: str = "none"
    pool_size: int = 1
    init: str = "random"

    @property
    def name(self) -> str:
        """Table 1's plain name, plus a suffix for each setting that differs from Table 1."""
        pooled = f"{POOLING_SUFFIX[self.pooling]}{self.pool_size}" if self.pooling != "none" else ""
        return (
            f"{self.front_end}_{self.length}_{self.stride}{NONLINEARITY_SUFFIX[self.nonlinearity]}"
            f"{pooled}{INIT_SUFFIX[self.init]}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def table1_variants(params: dict[str, Any]) -> list[Variant]:
    """Every Table 1 variant: each grid pair with each front end, in grid order."""
    experiments = params["experiments"]
    return [
        Variant(front_end, pair["length"], pair["stride"])
        for pair in experiments["table1"]
        for front_end in experiments["front_ends"]
    ]


def table2_variants(params: dict[str, Any]) -> list[Variant]:
    """Raw audio with each nonlinearity of the strided layer."""
    table = params["experiments"]["table2"]
    return [
        Variant("raw", table["length"], table["stride"], nonlinearity=nonlinearity)
        for nonlinearity in table["nonlinearities"]
    ]


def table3_variants(params: dict[str, Any]) -> list[Variant]:
    """Raw audio with each feature pooling after the strided layer."""
    table = params["experiments"]["table3"]
    return [
        Variant("raw", table["length"], table["stride"], pooling=p["type"], pool_size=p["size"])
        for p in table["poolings"]
    ]


def table4_variants(params: dict[str, Any]) -> list[Variant]:
    """For each pair: the spectrogram model and raw audio with each initialisation."""
    table = params["experiments"]["table4"]
    variants = []
    for pair in table["pairs"]:
        variants.append(Variant("spectrogram", pair["length"], pair["stride"]))
        variants += [Variant("raw", pair["length"], pair["stride"], init=i) for i in table["inits"]]
    return variants


def figure_variants(params: dict[str, Any]) -> dict[str, Variant]:
    """The models whose strided-layer filters Figures 2-4 show."""
    figures = params["experiments"]["figures"]
    pair, table3 = figures["filters_pair"], params["experiments"]["table3"]
    pool_size = figures["l2_pool_size"]
    return {
        "filters": Variant("raw", pair["length"], pair["stride"]),
        "l2_groups": Variant(
            "raw", table3["length"], table3["stride"], pooling="l2", pool_size=pool_size
        ),
    }


TABLE_VARIANTS = {
    "table1": table1_variants,
    "table2": table2_variants,
    "table3": table3_variants,
    "table4": table4_variants,
}

# The params.yaml keys each table reads besides its variants' metrics, so that Snakemake
# (params) and DVC (dvc.yaml `params:`) rebuild a table only when its own settings change.
TABLE_SETTINGS = {
    "table1": ["experiments.front_ends", "experiments.table1"],
    "table2": ["experiments.table2"],
    # Table 3's features column divides the strided layer's filters (its parameter counts come
    # from the trained networks, through the metrics).
    "table3": ["experiments.table3", "model.raw_filters"],
    "table4": ["experiments.table4"],
}


def values_at(params: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """The values of dotted params.yaml keys, e.g. ``["split.n_tags"]``."""
    values = {}
    for key in keys:
        value: Any = params
        for part in key.split("."):
            value = value[part]
        values[key] = value
    return values


def all_variants(params: dict[str, Any]) -> list[Variant]:
    """Every variant any table or figure needs, each once, in a stable order."""
    seen: dict[str, Variant] = {}
    for variants_of in TABLE_VARIANTS.values():
        for variant in variants_of(params):
            seen.setdefault(variant.name, variant)
    for variant in figure_variants(params).values():
        seen.setdefault(variant.name, variant)
    return list(seen.values())


def find_variant(params: dict[str, Any], name: str) -> Variant:
    """Look a variant up by name; the error lists the valid names."""
    variants = {v.name: v for v in all_variants(params)}
    if name not in variants:
        raise ParamsError(f"unknown variant {name!r}; params.yaml defines: {', '.join(variants)}")
    return variants[name]


def multiply_adds_per_window(variant: Variant, params: dict[str, Any]) -> int:
    """Multiply-adds of the variant's convolutions for one window: what a training job's time
    grows with (the dense layers are negligible beside them). The schedulers start the costly
    training jobs first, so the last job to finish is a short one."""
    model = params["model"]
    steps = frames_per_window(window_length_samples(params), variant.length, variant.stride)
    cost, channels = 0, N_MELS
    if variant.front_end == "raw":
        cost += steps * variant.length * model["raw_filters"]
        channels = model["raw_filters"] // variant.pool_size
    for _ in (1, 2):
        steps -= model["conv_length"] - 1
        cost += steps * channels * model["conv_length"] * model["conv_filters"]
        channels, steps = model["conv_filters"], math.ceil(steps / model["pool_size"])
    return cost


def variant_pairs(params: dict[str, Any]) -> list[tuple[int, int]]:
    """Every (length, stride) pair some variant uses (each needs evaluation windows)."""
    return sorted({(v.length, v.stride) for v in all_variants(params)})


def mel_pairs(params: dict[str, Any]) -> list[tuple[int, int]]:
    """The (length, stride) pairs that need a mel cache: those of spectrogram variants."""
    pairs = {(v.length, v.stride) for v in all_variants(params) if v.front_end == "spectrogram"}
    return sorted(pairs)


def training_profile(params: dict[str, Any]) -> dict[str, Any]:
    """The active training profile's settings; raises if training.profile names none."""
    training = params["training"]
    if training["profile"] not in training["profiles"]:
        raise ParamsError(
            f"params.yaml: key 'training.profile': {training['profile']!r} is not one of the "
            f"profiles defined under training.profiles ({', '.join(training['profiles'])})"
        )
    return training["profiles"][training["profile"]]


def training_keys(params: dict[str, Any]) -> list[str]:
    """The params.yaml keys a training job reads: the active profile's, not every profile's.

    Both drivers rerun training when one of these changes, so editing the ``paper`` profile
    leaves the ``quick`` models alone.
    """
    active = params["training"]["profile"]
    return [
        "training.profile",
        f"training.profiles.{active}",
        "training.device",
        "training.threads",
        "training.engine",
    ]


def raw_dir(params: dict[str, Any]) -> Path:
    """Where the dataset's annotations and part folders live."""
    dataset = params["dataset"]
    if dataset == "synth":
        return Path("data/raw/synth")
    if dataset == "mtat":
        return Path(params["mtat_dir"])
    return Path(params["folder_dir"])


def canonical_json(value: Any) -> str:
    """Stable JSON text (sorted keys) used for settings hashes and config files."""
    return json.dumps(value, sort_keys=True, indent=2)
