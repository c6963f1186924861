"""The embedded synthetic dataset: MTAT's layout and byte format, determinism, meaningful tags."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.constants import ANNOTATIONS_FILE, MTAT_PARTS, SAMPLE_RATE
from pipeline.data import synth
from pipeline.data.annotations import read_annotations

SEED = 7
NAME = re.compile(r"^[0-9a-f]/[a-z0-9_]+-[a-z0-9_]+-\d\d-[a-z0-9_]+-\d+-\d+\.mp3$")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip per part, written by a single process."""
    out = tmp_path_factory.mktemp("synth") / "mtat"
    synth.generate_synth_dataset(out, clips_per_part=1, seed=SEED, progress=False)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_tags_are_many_and_unique() -> None:
    assert len(synth.SYNTH_TAGS) >= 20
    assert len(set(synth.SYNTH_TAGS)) == len(synth.SYNTH_TAGS)
    assert all(t == t.lower() and "\t" not in t and '"' not in t for t in synth.SYNTH_TAGS)


def test_layout(dataset: Path) -> None:
    for part in MTAT_PARTS:
        files = sorted((dataset / part).iterdir())
        assert len(files) == 1, part
        rel = f"{part}/{files[0].name}"
        assert NAME.match(rel), rel
    assert {p.name for p in dataset.iterdir() if p.is_dir()} == set(MTAT_PARTS)
    audio, rate = sf.read(next((dataset / "3").glob("*.mp3")), dtype="float32")
    assert rate == SAMPLE_RATE and audio.ndim == 1
    assert abs(len(audio) / SAMPLE_RATE - 29.1) < 0.05
    assert 0.0 < np.abs(audio).max() < 1.0


def test_annotations_in_mtat_format(dataset: Path) -> None:
    raw = (dataset / ANNOTATIONS_FILE).read_bytes()
    assert raw.startswith(b'"clip_id"\t')
    lines = raw.split(b"\r\n")
    assert lines[-1] == b"" and len(lines) == 16 + 2
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert lines[0].endswith(b'\t"mp3_path"')
    ann = read_annotations(dataset / ANNOTATIONS_FILE)
    assert ann.tags == list(synth.SYNTH_TAGS)  # file order is the tag list, not frequency
    assert ann.clip_ids.tolist() == list(range(2, 18))
    assert ann.parts == list(MTAT_PARTS)
    assert all((dataset / p).is_file() for p in ann.mp3_paths)
    assert ann.labels.sum() > 16  # several tags per clip


def test_workers_give_identical_bytes(dataset: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    synth.generate_synth_dataset(again, clips_per_part=1, seed=SEED, workers=2, progress=False)
    assert _files(again) == _files(dataset)


def test_seed_changes_audio_and_names() -> None:
    a, _ = synth.generate_clip(np.random.default_rng([SEED, 0]))
    b, _ = synth.generate_clip(np.random.default_rng([SEED + 1, 0]))
    c, _ = synth.generate_clip(np.random.default_rng([SEED, 0]))
    assert not np.array_equal(a, b)
    assert np.array_equal(a, c)
    assert [synth.clip_path(SEED, i) for i in range(16)] != [
        synth.clip_path(SEED + 1, i) for i in range(16)
    ]


def test_reuse_and_relabel(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(dataset, out)
    annotations = out / ANNOTATIONS_FILE
    clip_times = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp3")}
    stamp = annotations.stat().st_mtime_ns
    synth.generate_synth_dataset(out, clips_per_part=1, seed=SEED, progress=False)
    assert annotations.stat().st_mtime_ns == stamp  # same settings: nothing rewritten

    synth.generate_synth_dataset(out, clips_per_part=1, seed=SEED, label_noise=0.0, progress=False)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mp3")} == clip_times  # audio reused
    ann = read_annotations(annotations)
    truth = [synth.clip_true_tags(SEED, i) for i in range(16)]
    for row, tags in zip(ann.labels, truth, strict=True):
        assert {t for t, v in zip(ann.tags, row, strict=True) if v} == tags


def test_fingerprint_follows_the_package_source(tmp_path: Path) -> None:
    package = Path(synth.__file__).parent
    copy = tmp_path / "synth"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    fingerprint = synth.generator_fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert synth.generator_fingerprint(copy) == fingerprint == synth.generator_fingerprint()

    module = copy / "music.py"
    source = bytearray(module.read_bytes())
    source[-2] ^= 1  # one bit of one byte
    module.write_bytes(bytes(source))
    assert synth.generator_fingerprint(copy) != fingerprint

    module.write_bytes(bytes(source[:-2] + source[-1:]))  # a byte fewer
    shortened = synth.generator_fingerprint(copy)
    assert shortened != fingerprint
    (copy / "extra.py").write_text("")
    assert synth.generator_fingerprint(copy) != shortened  # a new module counts too


def test_audio_is_reused_only_while_the_fingerprint_matches(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(dataset, out)
    settings_file = out / synth.SETTINGS_FILE
    stored = json.loads(settings_file.read_text())
    assert stored["fingerprint"] == synth.generator_fingerprint()
    clips = sorted(out.rglob("*.mp3"))
    originals = {p: p.read_bytes() for p in clips}
    for clip in clips:  # mark each clip, to see whether it is rendered again
        clip.write_bytes(b"stale")

    # Other settings (label noise), same generator: the audio is reused, the labels rewritten.
    settings_file.write_text(json.dumps({**stored, "label_noise": 0.5}))
    synth.generate_synth_dataset(out, clips_per_part=1, seed=SEED, progress=False)
    assert all(clip.read_bytes() == b"stale" for clip in clips)
    assert json.loads(settings_file.read_text()) == stored

    # Other settings written by another generator (a code change): every clip is rendered again.
    settings_file.write_text(json.dumps({**stored, "label_noise": 0.5, "fingerprint": "0" * 64}))
    synth.generate_synth_dataset(out, clips_per_part=1, seed=SEED, workers=2, progress=False)
    assert {p: p.read_bytes() for p in clips} == originals
    assert json.loads(settings_file.read_text()) == stored


def test_generate_clip() -> None:
    audio, tags = synth.generate_clip(np.random.default_rng([1, 2]))
    assert audio.dtype == np.float32 and audio.shape == (synth.CLIP_SAMPLES,)
    assert synth.CLIP_SAMPLES == 465_600
    assert np.isfinite(audio).all() and 0 < np.abs(audio).max() < 1.0
    assert tags <= set(synth.SYNTH_TAGS)
    assert ("vocal" in tags) != ("no vocals" in tags)


def test_a_clip_can_be_rendered_shorter() -> None:
    """``samples`` (the portability probe's 4 s clips on emulated CPUs) renders a shorter clip
    through the whole mix (a voiced, drummed, noisy clip with bass here), with its tags."""
    attributes = dataclasses.replace(
        BASE, voice="female", drums="four", bass=True, noise=True, dynamics="loud"
    )
    full, tags = synth.generate_clip(np.random.default_rng(3), attributes)
    short, short_tags = synth.generate_clip(np.random.default_rng(3), attributes, samples=64_000)
    assert short.shape == (64_000,) and short.dtype == np.float32 and short_tags == tags
    assert np.isfinite(short).all() and 0 < np.abs(short).max() < 1.0
    assert not np.array_equal(short, full[:64_000])  # rendered for 4 s, not cut from 29.1 s
    for samples in (0, synth.CLIP_SAMPLES + 1):
        with pytest.raises(ValueError, match=f"not {samples}"):
            synth.generate_clip(np.random.default_rng(3), attributes, samples=samples)


def _band_share(audio: np.ndarray, low_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)
    return float(spectrum[freqs >= low_hz].sum() / spectrum.sum())


def _centroid(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)
    return float((spectrum * freqs).sum() / spectrum.sum())


BASE = synth.ClipAttributes(style="classical", instruments=("piano",), bpm=100.0)


def _render(**changes: object) -> tuple[np.ndarray, set[str]]:
    return synth.generate_clip(np.random.default_rng(0), dataclasses.replace(BASE, **changes))


def test_register_moves_the_spectrum() -> None:
    low, low_tags = _render(register="low")
    high, high_tags = _render(register="high")
    assert "low" in low_tags and "high" in high_tags
    assert _centroid(low) < 0.7 * _centroid(high)


def test_drums_add_high_frequency_transients() -> None:
    plain, plain_tags = _render(style="pop")
    drummed, drum_tags = _render(style="pop", drums="rock")
    assert "drums" not in plain_tags and {"drums", "beat"} <= drum_tags
    assert _band_share(drummed, 5000) > 3 * _band_share(plain, 5000)


def test_dynamics_set_the_level() -> None:
    loud, loud_tags = _render(dynamics="loud")
    quiet, quiet_tags = _render(dynamics="quiet")
    assert "loud" in loud_tags and "quiet" in quiet_tags
    rms = [float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) for x in (loud, quiet)]
    assert rms[0] > 10 * rms[1]
    assert np.abs(loud).max() < 1.0


def test_voice_tags() -> None:
    _, female = _render(voice="female")
    _, none = _render()
    assert {"vocal", "female vocal"} <= female and "no vocals" not in female
    assert "no vocals" in none and "solo" in none


def test_tag_frequencies_differ() -> None:
    counts: Counter[str] = Counter()
    n = 1500
    for i in range(n):
        counts.update(synth.clip_true_tags(2014, i))
    share = {t: counts[t] / n for t in synth.SYNTH_TAGS}
    assert all(share[t] > 0.02 for t in synth.SYNTH_TAGS), share
    assert sum(v > 0.3 for v in share.values()) >= 3
    assert sum(v < 0.1 for v in share.values()) >= 3


def test_label_noise_rates() -> None:
    truth = {"guitar", "rock", "drums"}
    labels = np.stack([synth.noisy_labels(truth, 1, i, 0.2) for i in range(3000)])
    positive = np.array([t in truth for t in synth.SYNTH_TAGS])
    assert abs(labels[:, positive].mean() - 0.8) < 0.03
    assert abs(labels[:, ~positive].mean() - 0.02) < 0.01
    clean = synth.noisy_labels(truth, 1, 0, 0.0)
    assert np.array_equal(clean.astype(bool), positive)


@pytest.mark.parametrize(
    "kwargs", [{"clips_per_part": 0}, {"label_noise": 1.0}, {"label_noise": -0.1}, {"workers": 0}]
)
def test_rejects_bad_settings(tmp_path: Path, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        synth.generate_synth_dataset(tmp_path, progress=False, **kwargs)
