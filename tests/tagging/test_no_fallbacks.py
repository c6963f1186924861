"""e2e-tag never goes on half-configured: kernels it cannot have, a config.json it cannot read
or a numerics value it does not know stop it with a usage error (exit 2) saying what to do;
and it starts without the libraries only evaluation needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipeline.determinism import NumericsError
from pipeline.tagging import inference
from pipeline.tagging.cli import main
from pipeline.tagging.inference import tag_files
from pipeline.tagging.models import UsageError, trained_numerics
from tests.tagging.helpers import make_model_dir, write_audio

REPO = Path(__file__).resolve().parents[2]


def _set_numerics(model_dir: Path, value: object) -> Path:
    config = json.loads((model_dir / "config.json").read_text())
    config["numerics"] = value
    (model_dir / "config.json").write_text(json.dumps(config))
    return model_dir


@pytest.fixture
def portable_model(tmp_path: Path) -> Path:
    return _set_numerics(make_model_dir(tmp_path / "model"), "portable")


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_audio(tmp_path / "clip.wav", 1.0)


@pytest.fixture
def modes_asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record configure_torch's modes; portable numerics fail as they do where they cannot
    be had (the real call is not made: it would fix this test process's kernels)."""
    asked: list[str] = []

    def configure(mode: str, threads: int, device: str = "cpu") -> None:
        asked.append(mode)
        if mode == "portable":
            raise NumericsError("portable numerics need ATen's AVX2 kernels")

    monkeypatch.setattr(inference, "configure_torch", configure)
    return asked


def _cpu(monkeypatch: pytest.MonkeyPatch, has_avx2: bool, capability: str) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx2_supported", lambda: has_avx2, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)


def test_a_cpu_without_avx2_exits_2_and_says_to_pass_numerics_native(
    portable_model, clip, modes_asked, monkeypatch, capsys
):
    _cpu(monkeypatch, has_avx2=False, capability="DEFAULT")
    assert main(["--model", str(portable_model), "--device", "cpu", str(clip)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: model {portable_model}: it was trained with portable numerics")
    assert "this CPU lacks it (torch runs its DEFAULT kernels)" in err
    assert "pass --numerics native" in err and "fresh process" not in err
    assert err.count("\n") == 1 and modes_asked == ["portable"]


def test_kernels_chosen_before_tag_files_send_the_files_to_a_fresh_worker(
    portable_model, clip, monkeypatch, capsys
):
    """Only this process is to blame: the files go to a worker with the model's numerics
    (its real run: tests/tagging/test_worker.py)."""

    def too_late(mode: str, threads: int, device: str = "cpu") -> None:
        raise NumericsError(
            "portable numerics need ATen's AVX2 kernels, but torch runs AVX512 here: a tensor "
            "operation ran before configure_torch; start the step in a fresh process",
            too_late=True,
        )

    sent = []
    monkeypatch.setattr(inference, "configure_torch", too_late)
    monkeypatch.setattr(
        inference, "score_in_worker", lambda *args, **kwargs: sent.append((args, kwargs)) or []
    )
    assert tag_files(portable_model, [clip.parent], device="cpu", batch_size=7) == []
    options = {"batch_size": 7, "threads": 1, "numerics": "portable", "asked": False}
    assert sent == [((portable_model, [clip]), {**options, "progress": False})]
    assert capsys.readouterr().err == (
        "note: portable numerics need ATen's AVX2 kernels, but torch runs AVX512 here: a tensor "
        "operation ran before configure_torch; tagging in a fresh worker process with the "
        "model's portable numerics, so that the scores are evaluation's\n"
    )


def test_another_numerics_failure_keeps_its_reason(portable_model, clip, modes_asked, monkeypatch):
    _cpu(monkeypatch, has_avx2=True, capability="AVX2")
    with pytest.raises(UsageError, match=r"cannot have \(portable numerics need ATen's AVX2"):
        tag_files(portable_model, [clip], device="cpu")


def test_asking_for_portable_numerics_says_so(tmp_path, clip, modes_asked, monkeypatch):
    native = _set_numerics(make_model_dir(tmp_path / "native_model"), "native")
    _cpu(monkeypatch, has_avx2=False, capability="DEFAULT")
    with pytest.raises(UsageError) as raised:
        tag_files(native, [clip], device="cpu", numerics="portable")
    assert str(raised.value).startswith(
        f"model {native}: --numerics portable asks for portable numerics, which need a CPU "
        "with AVX2, and this CPU lacks it"
    )


def test_numerics_native_tags_a_portable_model_anyway(
    portable_model, clip, modes_asked, monkeypatch, capsys
):
    _cpu(monkeypatch, has_avx2=False, capability="DEFAULT")
    assert (
        main(["--model", str(portable_model), "--device", "cpu", "--numerics", "native", str(clip)])
        == 0
    )
    assert modes_asked == ["native"]
    assert "clip.wav" in capsys.readouterr().out


def test_the_trained_numerics_are_the_default(tmp_path, clip, modes_asked):
    native = _set_numerics(make_model_dir(tmp_path / "native_model"), "native")
    [result] = tag_files(native, [clip], device="cpu")
    assert result.error is None and modes_asked == ["native"]


def test_an_unknown_numerics_argument_is_a_usage_error(portable_model, clip):
    with pytest.raises(UsageError, match="numerics 'fast': use one of portable, native"):
        tag_files(portable_model, [clip], numerics="fast")


def test_a_config_without_numerics_means_native(tmp_path):
    """Models trained before the setting existed ran torch's own kernels."""
    model_dir = make_model_dir(tmp_path / "old_model")
    assert "numerics" not in json.loads((model_dir / "config.json").read_text())
    assert trained_numerics(model_dir) == "native"
    assert trained_numerics(_set_numerics(model_dir, "portable")) == "portable"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON (JSONDecodeError: Expecting property name"),
        (b"\xff\xfe\x00", "not valid JSON (UnicodeDecodeError: "),
        ("[1, 2]", "holds a JSON list, not the object training writes"),
    ],
)
def test_an_invalid_config_json_is_a_usage_error_naming_it(
    tmp_path, clip, capsys, content, problem
):
    model_dir = make_model_dir(tmp_path / "model")
    config = model_dir / "config.json"
    if isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content)
    assert main(["--model", str(model_dir), "--device", "cpu", str(clip)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {config}: {problem}")
    assert err.rstrip().endswith("or retrain the model") and err.count("\n") == 1


def test_an_unreadable_config_json_is_a_usage_error_naming_it(tmp_path, monkeypatch):
    model_dir = make_model_dir(tmp_path / "model")
    config = model_dir / "config.json"
    read_text = Path.read_text

    def refuse(path: Path, *args, **kwargs) -> str:
        if path == config:
            raise PermissionError(13, "Permission denied", str(path))
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse)  # chmod 0 does not stop root
    with pytest.raises(UsageError) as raised:
        trained_numerics(model_dir)
    assert str(raised.value).startswith(f"{config}: cannot be read (Permission denied); ")


def test_an_unknown_numerics_value_is_a_usage_error(tmp_path, clip, capsys):
    model_dir = _set_numerics(make_model_dir(tmp_path / "model"), "fast")
    assert main(["--model", str(model_dir), "--device", "cpu", str(clip)]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: {model_dir / 'config.json'}: numerics 'fast' is not one of portable, native"
    )


def test_a_missing_model_dir_is_still_reported_as_such(tmp_path):
    with pytest.raises(UsageError, match="does not exist: it should contain config.json"):
        trained_numerics(tmp_path / "no_such_model")


def test_the_command_starts_without_scikit_learn_or_matplotlib():
    """Tagging a file never computes an AUC, and only --taggram draws."""
    code = (
        "import pipeline.tagging.cli, sys; "
        "print('sklearn' in sys.modules, 'matplotlib' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "False"]
