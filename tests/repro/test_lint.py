"""`snakemake --lint` reviews the workflow: every rule has a log and a benchmark, and nothing
is reported but the suggestion of a conda environment or container per rule (the project
pins its software in pyproject.toml and constraints/cpu-reference.txt instead)."""

from __future__ import annotations

import re
import sys

import pytest

from tests.conftest import REPO, run_tool

ACCEPTED = "Specify a conda environment or container for each rule."


@pytest.mark.parametrize("config", [[], ["--config", "dataset=mtat"]], ids=["synth", "mtat"])
def test_the_lint_reports_nothing_but_the_container_suggestion(config):
    done = run_tool(REPO, sys.executable, "-m", "snakemake", "--lint", *config, check=False)
    text = done.stdout + done.stderr
    linted_rules = re.findall(r"^Lints for rule (\w+)", text, re.M)
    findings = re.findall(r"^\s+\* (.+?):$", text, re.M)
    assert {"train", "evaluate", "table"} <= set(linted_rules), text[-2000:]
    assert set(findings) == {ACCEPTED}, text[-3000:]
    assert not re.search(r"^Lints for snakefile", text, re.M), text[-3000:]
