"""docs/architecture.md: its DAG picture is the Snakefile's, and its table names real code.

A rule added or renamed without regenerating the picture, or a module, test or artefact
renamed without updating the table, fails here instead of misleading the next reader.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline import stages
from pipeline.code_deps import STEP_MODULES, module_file
from pipeline.paths import Paths
from pipeline.repro.rulegraph import (
    ARCHITECTURE_FILE,
    DAG_FILE,
    snakemake_rulegraph,
    sync_docs,
    to_mermaid,
)
from tests.conftest import REPO

ARCHITECTURE = (REPO / ARCHITECTURE_FILE).read_text()
# Placeholders as the table writes them, so each artefact can be compared with Paths.
PLACEHOLDERS = Paths("<dataset>", Path("data/raw/<dataset>"))
ARTEFACT_TEMPLATES = [
    str(path)
    for path in (
        PLACEHOLDERS.raw,
        PLACEHOLDERS.metadata_verified,
        PLACEHOLDERS.audio_ready,
        PLACEHOLDERS.split,
        PLACEHOLDERS.skipped,
        PLACEHOLDERS.audio_stem,
        PLACEHOLDERS.windows("<L>", "<S>"),
        PLACEHOLDERS.mel_stem("<L>", "<S>"),
        PLACEHOLDERS.model_dir("<variant>", "<K>"),
        PLACEHOLDERS.metrics("<variant>"),
        PLACEHOLDERS.claims("{csv,md,json}"),
        PLACEHOLDERS.per_tag("<variant>"),
        PLACEHOLDERS.table("table<N>"),
        PLACEHOLDERS.figures,
    )
]


@pytest.fixture(scope="module")
def rulegraph() -> str:
    return snakemake_rulegraph()


def declared_rules() -> set[str]:
    """Every rule the workflow declares, including those only one dataset defines."""
    sources = [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]
    return {
        name
        for source in sources
        for name in re.findall(r"^\s*rule\s+(\w+)\s*:", source.read_text(), re.MULTILINE)
    }


def table_rows(markdown: str) -> list[list[list[str]]]:
    """The step table's rows, each cell as the list of its `code` spans."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| rule |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([re.findall(r"`([^`]+)`", cell) for cell in line.strip("|").split("|")])
    return rows


def dvc_stage_pattern(name: str) -> re.Pattern[str]:
    """``train_<family>@<L>_<S>-<K>`` -> the dvc.yaml stage it is generated from."""
    return re.compile(re.sub(r"<[^>]+>", ".+", re.escape(name.partition("@")[0])))


def doc_problems(markdown: str) -> list[str]:
    """Everything in the document that no longer matches the code and the repository."""
    problems = [
        f"module {name} does not exist"
        for name in sorted(set(re.findall(r"`(pipeline(?:\.\w+)*)`", markdown)))
        if module_file(name) is None
    ]
    rows = table_rows(markdown)
    rules = {row[0][0] for row in rows}
    problems += [f"rule {rule} is not in the table" for rule in sorted(declared_rules() - rules)]
    problems += [
        f"rule {rule} is not in the Snakefile" for rule in sorted(rules - declared_rules())
    ]
    patterns = []
    for (rule,), dvc, step, tests, artefacts in rows:
        patterns += [dvc_stage_pattern(name) for name in dvc]
        if step:
            function, module = step
            if not callable(getattr(stages, function, None)):
                problems.append(f"{rule}: pipeline.stages has no function {function}")
            elif STEP_MODULES.get(function) != module:
                problems.append(f"{rule}: stages.{function} calls {STEP_MODULES.get(function)}")
        problems += [
            f"{rule}: {path} does not exist" for path in tests if not (REPO / path).is_file()
        ]
        problems += [
            f"{rule}: {path} is no path of pipeline.paths"
            for path in artefacts
            if not any(path.startswith(template) for template in ARTEFACT_TEMPLATES)
        ]
    dvc_stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    problems += [
        f"dvc.yaml stage {stage} is not in the table"
        for stage in dvc_stages
        if not any(pattern.fullmatch(stage) for pattern in patterns)
    ]
    problems += [
        f"no dvc.yaml stage is {pattern.pattern}"
        for pattern in patterns
        if not any(pattern.fullmatch(stage) for stage in dvc_stages)
    ]
    return problems


# --- the picture is the Snakefile's rule graph -------------------------------------------------


def test_committed_picture_is_the_snakefiles_rulegraph(rulegraph):
    stale = sync_docs(rulegraph, REPO, check=True)
    assert stale == [], f"{stale} stale: run `python -m pipeline.repro.rulegraph` and commit"


def test_a_new_rule_makes_the_picture_stale_until_regenerated(rulegraph, tmp_path):
    (tmp_path / "docs").mkdir()
    for name in (ARCHITECTURE_FILE, DAG_FILE):
        shutil.copy(REPO / name, tmp_path / name)
    table = re.search(r'(\d+)\[label = "table"', rulegraph).group(1)
    grown = rulegraph.rstrip().removesuffix("}") + f'\t99[label = "export"];\n\t{table} -> 99\n}}'
    assert sync_docs(grown, tmp_path, check=True) == [DAG_FILE, ARCHITECTURE_FILE]
    assert (tmp_path / DAG_FILE).read_text() == (REPO / DAG_FILE).read_text()  # check writes none
    assert sync_docs(grown, tmp_path, check=False) == [DAG_FILE, ARCHITECTURE_FILE]
    assert sync_docs(grown, tmp_path, check=True) == []
    assert "    table --> export\n" in (tmp_path / ARCHITECTURE_FILE).read_text()


def test_the_picture_does_not_depend_on_snakemakes_node_numbers(rulegraph):
    renumbered = re.sub(r"\b(\d+)(?=\[| ->|\n)", lambda m: str(1000 - int(m.group(1))), rulegraph)
    assert renumbered != rulegraph
    assert to_mermaid(renumbered) == to_mermaid(rulegraph)


# --- the table names real rules, stages, modules, tests and paths ------------------------------


def test_every_rule_of_the_rulegraph_is_declared(rulegraph):
    assert set(re.findall(r'label = "(\w+)"', rulegraph)) <= declared_rules()


def test_the_table_matches_the_code():
    assert doc_problems(ARCHITECTURE) == []


def test_a_stale_table_is_caught():
    figures_row = next(line for line in ARCHITECTURE.splitlines() if line.startswith("| `figures`"))
    stale = (
        ARCHITECTURE.replace(figures_row + "\n", "")
        .replace("`pipeline.data.split`", "`pipeline.data.splitter`")
        .replace("tests/data/test_split.py", "tests/data/test_splitting.py")
        .replace("<dataset>/split.csv", "<dataset>/splits.csv")
    )
    assert doc_problems(stale) == [
        "module pipeline.data.splitter does not exist",
        "rule figures is not in the table",
        "split: stages.split calls pipeline.data.split",
        "split: tests/data/test_splitting.py does not exist",
        "split: data/interim/<dataset>/splits.csv is no path of pipeline.paths",
        "dvc.yaml stage figures is not in the table",
    ]
