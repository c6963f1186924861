import numpy as np
import pytest

from pipeline.data.annotations import (
    AnnotationsError,
    format_annotations,
    read_annotations,
    write_annotations,
)


def test_real_file_round_trips_byte_for_byte(real_annotations):
    annotations = read_annotations(real_annotations)
    assert annotations.labels.shape == (25863, 188)
    assert annotations.tags[:3] == ["no voice", "singer", "duet"]
    text = format_annotations(
        annotations.clip_ids, annotations.tags, annotations.labels, annotations.mp3_paths
    )
    assert text.encode() == real_annotations.read_bytes()


def test_written_format_is_mtat(tmp_path):
    path = tmp_path / "annotations_final.csv"
    write_annotations(
        path, [2, 5], ["rock", "piano"], np.array([[1, 0], [0, 1]]), ["0/a.mp3", "f/b.mp3"]
    )
    raw = path.read_bytes()
    assert raw.startswith(b'"clip_id"\t"rock"\t"piano"\t"mp3_path"\r\n')
    assert raw.endswith(b'"5"\t"0"\t"1"\t"f/b.mp3"\r\n')
    back = read_annotations(path)
    assert back.parts == ["0", "f"] and back.clip_ids.tolist() == [2, 5]


def test_bad_value_names_clip_and_tag(tmp_path):
    path = tmp_path / "annotations_final.csv"
    path.write_text('"clip_id"\t"rock"\t"mp3_path"\r\n"2"\t"yes"\t"0/a.mp3"\r\n')
    with pytest.raises(AnnotationsError, match="clip_id 2, tag 'rock'"):
        read_annotations(path)


def test_missing_columns_rejected(tmp_path):
    path = tmp_path / "annotations_final.csv"
    path.write_text("a\tb\n1\t2\n")
    with pytest.raises(AnnotationsError, match="expected columns clip_id"):
        read_annotations(path)
