import numpy as np

from pipeline.data.annotations import Annotations
from pipeline.data.split import (
    build_split,
    select_top_tags,
    split_summary,
    tag_columns,
    write_split,
)


def test_real_metadata_gives_the_paper_split(real_annotations, tmp_path):
    split = write_split(real_annotations, tmp_path / "split.csv", 50, "paper")
    summary = split_summary(split)
    assert summary.loc["train", "clips"] == 18709
    assert summary.loc["valid", "clips"] == 1825
    assert summary.loc["test", "clips"] == 5329
    assert set(split.loc[split["split"] == "valid", "part"]) == {"c"}
    assert set(split.loc[split["split"] == "test", "part"]) == {"d", "e", "f"}
    tags = tag_columns(split)
    assert len(tags) == 50
    assert tags[:5] == ["guitar", "classical", "slow", "techno", "strings"]
    counts = split[tags].sum().to_numpy().astype(int)
    assert (np.diff(counts) <= 0).all(), "tags are in decreasing frequency"
    # The paper's protocol keeps clips without any of the 50 tags.
    assert summary["clips_without_tags"].sum() == 3459 + 296 + 997


def test_real_metadata_cleaned_flavour(real_annotations, tmp_path):
    split = write_split(real_annotations, tmp_path / "split.csv", 50, "cleaned")
    summary = split_summary(split)
    assert summary["clips"].to_dict() == {"train": 15250, "valid": 1529, "test": 4332}
    assert summary["clips_without_tags"].sum() == 0


def _annotations(labels, tags):
    labels = np.array(labels, dtype=np.uint8)
    parts = ["0", "c", "d", "5"][: len(labels)]
    return Annotations(
        np.arange(len(labels)), tags, labels, [f"{p}/x{i}.mp3" for i, p in enumerate(parts)]
    )


def test_ties_broken_by_file_order():
    annotations = _annotations([[1, 1, 0], [0, 0, 1], [1, 1, 1]], ["b", "a", "c"])
    assert select_top_tags(annotations, 2) == ["b", "a"]
    assert select_top_tags(annotations, 10) == ["b", "a", "c"]


def test_split_columns_and_fewer_tags_than_k():
    split = build_split(_annotations([[1, 0], [0, 0], [1, 1]], ["x", "y"]), 50)
    assert list(split.columns) == ["clip_id", "mp3_path", "part", "split", "x", "y"]
    assert split["split"].tolist() == ["train", "valid", "test"]
