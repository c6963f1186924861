"""Portable numerics: the same bytes whatever CPU kernels numpy, OpenBLAS, MKL and torch pick.

One machine cannot be another CPU, but it can be made to pick another CPU's kernels: each
environment below forces a choice that a different Intel or AMD host makes by itself (an older
numpy dispatch target, another OpenBLAS core, MKL and oneDNN capped at AVX2 or SSE4.2, ATen's
AVX-512 kernels). In portable mode the mel cache and a few hundred updates of a spectrogram and
a raw-audio model must come out byte-identical under every one of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import run_tool

PROBE = Path(__file__).with_name("portability_probe.py")

KERNEL_CHOICES = {
    "host": {},
    "numpy without AVX2/AVX-512 kernels": {"NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL"},
    "OpenBLAS Haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "OpenBLAS Prescott (SSE3)": {"OPENBLAS_CORETYPE": "Prescott"},
    "MKL capped at AVX2, oneDNN at AVX2": {
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "DNNL_MAX_CPU_ISA": "AVX2",
    },
    "MKL capped at SSE4.2, ATen asked for AVX-512": {
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "ATEN_CPU_CAPABILITY": "avx512",
    },
}


@pytest.fixture(scope="module")
def probes(tmp_path_factory) -> dict[str, dict[str, str]]:
    results = {}
    for name, env in KERNEL_CHOICES.items():
        out = tmp_path_factory.mktemp("probe")
        result = run_tool(out, sys.executable, str(PROBE), str(out / "run"), "portable", **env)
        results[name] = json.loads(result.stdout.strip().splitlines()[-1])
    return results


def test_every_output_of_the_probe_is_hashed(probes):
    assert set(probes["host"]) == {
        "mel.bin",
        "spectrogram_512_256/model.pt",
        "spectrogram_512_256/history.csv",
        "raw_512_256/model.pt",
        "raw_512_256/history.csv",
    }


@pytest.mark.parametrize("choice", [c for c in KERNEL_CHOICES if c != "host"])
def test_portable_outputs_do_not_depend_on_the_kernels(probes, choice):
    differing = [out for out, h in probes[choice].items() if h != probes["host"][out]]
    assert not differing, f"{choice}: {differing} differ from the host's kernels"


def test_the_probe_sees_kernel_changes_in_native_mode(tmp_path):
    """Without portable numerics the same choices do change the models: the test above is not
    passing because the probe is blind to kernels."""
    hashes = {}
    for name, env in {
        "host": {},
        "SSE4.1": {"DNNL_MAX_CPU_ISA": "SSE41", "ATEN_CPU_CAPABILITY": "default"},
    }.items():
        out = tmp_path / name
        result = run_tool(tmp_path, sys.executable, str(PROBE), str(out), "native", **env)
        hashes[name] = json.loads(result.stdout.strip().splitlines()[-1])
    assert hashes["SSE4.1"]["raw_512_256/model.pt"] != hashes["host"]["raw_512_256/model.pt"]
