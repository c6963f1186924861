"""The band diagnosis: which band's energy alone predicts each tag, on clips built to say so."""

import numpy as np
import pandas as pd
import pytest

from pipeline.features import diagnose
from pipeline.features.diagnose import BAND_EDGES_HZ, band_names, band_powers
from pipeline.features.diagnose import diagnose as diagnose_powers

RATE = 16000


def tone(hz, seconds=2.0, amplitude=0.3):
    t = np.arange(int(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * hz * t)


def test_a_tone_puts_its_power_in_its_band_and_the_bands_add_up():
    rng = np.random.default_rng(0)
    x = tone(300.0) + 0.01 * rng.standard_normal(2 * RATE)
    powers = band_powers(x)
    assert band_names()[int(np.argmax(powers))] == "200-400 Hz"
    assert powers.sum() == pytest.approx(np.mean(x * x), rel=0.02)
    as_int16 = np.round(x * 32768).astype(np.int16)
    np.testing.assert_allclose(band_powers(as_int16), powers, rtol=1e-3)


def test_each_tag_gets_the_band_that_predicts_it_and_its_direction():
    rng = np.random.default_rng(1)
    clips, labels = [], []
    for i in range(40):
        kick, bright = i % 2, (i // 2) % 2
        x = 0.02 * rng.standard_normal(2 * RATE)
        x += tone(78.125) * kick  # exactly a Welch bin: no leakage below 50 Hz
        x = x + tone(2500.0, amplitude=0.1) * bright * rng.uniform(0.5, 1)
        clips.append(band_powers(x))
        labels.append([kick, bright, 1 - bright])
    result = diagnose_powers(np.array(clips), np.array(labels), ["drums", "bright", "dark"])
    table = result.tags.set_index("tag")
    assert table.loc["drums", "best_band"] == "50-100 Hz"
    assert table.loc["bright", "best_band"] == table.loc["dark", "best_band"] == "1600-3200 Hz"
    assert table.loc["bright", "direction"] == "more" and table.loc["dark", "direction"] == "less"
    assert table.loc["drums", "best_auc"] == table.loc["dark", "best_auc"] == 1.0
    assert result.bands["power_share"].sum() == pytest.approx(1.0)
    report = diagnose.summary_markdown(result, "toy")
    assert (
        "Tags with a single band at AUC >= 0.8: 3 of 3; of those, 1 have their best band" in report
    )


def test_a_tag_without_negatives_is_listed_without_an_auc():
    powers = np.ones((4, len(BAND_EDGES_HZ) - 1))
    result = diagnose_powers(powers, np.array([[1], [1], [1], [1]]), ["everywhere"])
    assert result.tags.loc[0, "positives"] == 4
    assert pd.isna(result.tags.loc[0, "best_auc"])


def test_the_command_says_what_to_build_when_the_cache_is_missing(tmp_path, monkeypatch, capsys):
    from tests.conftest import REPO

    monkeypatch.chdir(tmp_path)
    assert diagnose.main(["--params", str(REPO / "params.yaml")]) == 2
    err = capsys.readouterr().err
    assert "data/processed/synth/audio.csv" in err and "snakemake --cores 2" in err
