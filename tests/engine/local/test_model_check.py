"""Every configured model is checked at start without loading weights."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from huggingface_hub import constants

from engine.local import LocalProvider
from engine.local.models import check_models
from engine.local.options import LocalOptions
from tests.engine.local.conftest import TinyModels


def fill_cache(cache: Path, repo: str, files: dict[str, bytes]) -> Path:
    """A hub cache as huggingface_hub leaves it after a download."""
    root = cache / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snapshot = root / "snapshots" / commit
    for name, data in files.items():
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).write_bytes(data)
    return snapshot


def options(tmp_path: Path, **models: dict[str, str]) -> LocalOptions:
    return LocalOptions.model_validate({"models": models, "cache_dir": str(tmp_path / "hub")})


def test_present_folders_files_and_cached_repos_are_usable_with_their_sizes(
    tiny: TinyModels, tmp_path: Path
) -> None:
    index = json.dumps({"_class_name": "FluxPipeline"}).encode()
    snapshot = fill_cache(tmp_path / "hub", "someone/cached", {"model_index.json": index})
    states = check_models(
        options(
            tmp_path,
            folder={"source": str(tiny.sd)},
            file={"source": str(tiny.single_file), "config": str(tiny.sd)},
            repo={"source": "someone/cached"},
        ),
        online=False,
    )
    assert [(s.name, s.present, s.usable) for s in states] == [
        ("folder", True, True),
        ("file", True, True),
        ("repo", True, True),
    ]
    assert states[1].size == tiny.single_file.stat().st_size
    assert states[0].size > states[1].size // 2
    assert states[2].where == str(snapshot)
    assert states[2].size == len(index)
    assert [s.family for s in states] == ["Stable Diffusion 1.x/2.x"] * 2 + ["FLUX.1 [dev]"]


def test_a_folder_no_family_describes_is_broken_and_names_what_runs(tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "AudioLDMPipeline"}))
    [state] = check_models(options(tmp_path, audio={"source": str(folder)}), online=False)
    assert state.problem is not None
    assert "AudioLDMPipeline" in state.problem and "FLUX.1 [schnell]" in state.problem


def test_broken_and_missing_models_are_named_with_the_fix(
    tiny: TinyModels, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text("{not json")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(tiny.single_file.read_bytes()[:20])
    states = check_models(
        options(
            tmp_path,
            broken={"source": str(broken)},
            gone={"source": str(tmp_path / "gone.safetensors"), "config": str(tiny.sd)},
            cut={"source": str(truncated), "config": str(tiny.sd)},
            repo={"source": "someone/not-cached"},
        )
    )
    problems = {state.name: state.problem or "" for state in states}
    assert "model_index.json does not parse" in problems["broken"]
    assert "gone.safetensors does not exist" in problems["gone"]
    assert "not a readable .safetensors file" in problems["cut"]
    assert "fix source in the config" in problems["cut"]
    assert "HF_HUB_OFFLINE" in problems["repo"] and "models pull" in problems["repo"]


async def test_a_broken_model_other_than_the_default_is_reported_at_start(
    make_local: Callable[..., LocalProvider], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text(json.dumps({"_class_name": "x"})[:-1])
    provider = make_local(
        default_model="tiny",
        models={
            "tiny": {
                "source": str(make_local().options.models["tiny"].source),
                "runtime": "torch",
            },
            "broken": {"source": str(broken)},
        },
    )
    caplog.set_level(logging.WARNING)
    await provider.start()
    await provider.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        w.startswith("Model broken is unusable:") and "does not parse" in w for w in warnings
    )
