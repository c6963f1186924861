"""The resume key changes with the torch and numpy versions, so a checkpoint made under other
library versions is discarded (resume_from_checkpoint drops one of another key, see
test_checkpoint.py) rather than finished with other kernels or generators."""

import numpy as np
import pytest
import torch

from pipeline.training import loop
from tests.training.tiny_setup import tiny_job, tiny_run


@pytest.fixture(scope="module")
def job_and_run():
    job = tiny_job(seed=3)
    return job, tiny_run(job)


def test_the_key_is_the_same_for_the_same_inputs_and_versions(job_and_run):
    job, run = job_and_run
    assert loop._resume_key(job, run) == loop._resume_key(job, run)


@pytest.mark.parametrize(("module", "version"), [(torch, "2.0.0+other"), (np, "1.26.4")])
def test_another_library_version_changes_the_key(job_and_run, monkeypatch, module, version):
    job, run = job_and_run
    before = loop._resume_key(job, run)
    assert module.__version__ != version
    monkeypatch.setattr(module, "__version__", version)
    assert loop._resume_key(job, run) != before
