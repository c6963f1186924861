"""Portable numerics: the same bytes whatever CPU kernels numpy, OpenBLAS, MKL, oneDNN and
torch pick, and the bytes pinned in tests/reference/portability_probe.json.

One machine cannot be another CPU, but it can be made to pick another CPU's kernels: each
environment below forces a choice that a different host makes by itself (another numpy
dispatch target, another OpenBLAS core, MKL and oneDNN capped at another ISA, ATen's default
kernels). In portable mode every output of the probe (tests/repro/portability_probe.py) must
come out byte-identical under each of them, and on the host identical to the pinned
reference, so that removing any one portable setting fails here: a setting an environment
below would override changes that environment's bytes, and one that changes the host's own
kernels (oneDNN, NNPACK, the pinned products) changes the host's bytes.

One limit, asserted so that it stays documented (docs/dvc.md): synthesising the embedded
dataset runs numpy's SIMD loops for sin, exp, tanh..., and without numpy's AVX2 (X86_V3)
loops, i.e. on a CPU without AVX2, its samples differ. Every CPU portable numerics accept has
AVX2 and FMA.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REPO, run_tool
from tests.repro import portability_probe

PROBE = Path(portability_probe.__file__)
REFERENCE = REPO / "tests/reference/portability_probe.json"
NUMPY_BASELINE = "numpy without AVX2/AVX-512 loops"

KERNEL_CHOICES = {
    "host": {},
    NUMPY_BASELINE: {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"},
    "OpenBLAS Haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "OpenBLAS Prescott (SSE3)": {"OPENBLAS_CORETYPE": "Prescott"},
    "MKL capped at AVX2, oneDNN at SSE4.1": {
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "DNNL_MAX_CPU_ISA": "SSE41",
    },
    "MKL capped at SSE4.2, ATen's default kernels": {
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "ATEN_CPU_CAPABILITY": "default",
    },
}


def run_probe(out: Path, mode: str, *scale: str, **env: str) -> dict[str, str]:
    out.parent.mkdir(parents=True, exist_ok=True)
    result = run_tool(out.parent, sys.executable, str(PROBE), str(out), mode, *scale, **env)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> dict[str, dict[str, str]]:
    return {
        name: run_probe(tmp_path_factory.mktemp("probe") / "run", "portable", **env)
        for name, env in KERNEL_CHOICES.items()
    }


def test_every_output_of_the_probe_is_hashed(probes):
    assert set(probes["host"]) == {
        "synth/clips.mp3",
        "synth/audio.bin",
        "mel.bin",
        *(
            f"{run}/{name}"
            for run in ("spectrogram_512_256_looped", "raw_512_256_looped", "raw_512_256_packed")
            for name in ("model.pt", "history.csv")
        ),
        *(
            f"evaluation/{variant}{name}"
            for variant in ("spectrogram_512_256", "raw_512_256")
            for name in (".json", "_per_tag.csv", "_scores")
        ),
        "table1.csv",
    }


def test_the_host_gives_the_pinned_bytes(probes):
    """The bytes on this machine are the ones pinned on the machine that made the reference
    (re-pin with `python tests/repro/portability_probe.py --pin` after a change that is
    meant to change them)."""
    reference = json.loads(REFERENCE.read_text())
    versions = {"torch": torch.__version__, "numpy": np.__version__}
    if reference["versions"] != versions:
        pytest.skip(f"pinned with {reference['versions']}, this is {versions}")
    differing = [out for out, h in probes["host"].items() if reference["hashes"].get(out) != h]
    assert not differing, f"{differing} differ from {REFERENCE.name} (made on {reference['cpu']})"


@pytest.mark.parametrize("choice", [c for c in KERNEL_CHOICES if c != "host"])
def test_portable_outputs_do_not_depend_on_the_kernels(probes, choice):
    compared = [
        out
        for out in probes["host"]
        if not (choice == NUMPY_BASELINE and out in portability_probe.DATA_OUTPUTS)
    ]
    differing = [out for out in compared if probes[choice][out] != probes["host"][out]]
    assert not differing, f"{choice}: {differing} differ from the host's kernels"


def test_synthesis_needs_numpys_avx2_loops(probes):
    """The documented limit: numpy's pre-AVX2 loops synthesise other samples (and so other
    mp3s), while the mel cache and the models do not depend on numpy's loops."""
    host, baseline = probes["host"], probes[NUMPY_BASELINE]
    assert [out for out in portability_probe.DATA_OUTPUTS if baseline[out] != host[out]] == list(
        portability_probe.DATA_OUTPUTS
    )


def test_the_probe_sees_kernel_changes_in_native_mode(tmp_path):
    """Without portable numerics the same choices do change the models: the tests above are
    not passing because the probe is blind to kernels. The short scale (4 updates) is enough
    to show it: one product that rounds otherwise changes every later update."""
    host = run_probe(tmp_path / "host" / "run", "native", "--short")
    other = run_probe(
        tmp_path / "other" / "run",
        "native",
        "--short",
        DNNL_MAX_CPU_ISA="SSE41",
        ATEN_CPU_CAPABILITY="default",
    )
    changed = {out for out in host if other[out] != host[out]}
    short = portability_probe.SHORT.prefix
    assert {f"{short}raw_512_256_looped/model.pt", f"{short}raw_512_256_packed/model.pt"} <= changed
