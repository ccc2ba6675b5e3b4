"""``python -m bot models list`` and ``models pull`` against local folders, files and a
pre-filled hub cache; nothing is downloaded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from huggingface_hub import constants

from bot.cli import main
from tests.engine.local.test_model_check import fill_cache


def write_config(tmp_path: Path) -> Path:
    folder = tmp_path / "folder-model"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (folder / "unet.bin").write_bytes(b"x" * 3000)
    header = json.dumps({"__metadata__": {}}).encode()
    checkpoint = tmp_path / "model.safetensors"
    checkpoint.write_bytes(len(header).to_bytes(8, "little") + header)
    broken = tmp_path / "broken"
    broken.mkdir()
    fill_cache(tmp_path / "hub", "someone/cached", {"model_index.json": b"{}" * 1024})
    config = tmp_path / "bot.toml"
    config.write_text(
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        "[providers.local]\nkind = 'local'\ndevice = 'cpu'\n"
        f"cache_dir = '{tmp_path / 'hub'}'\n"
        f"[providers.local.models.folder]\nsource = '{folder}'\n"
        f"[providers.local.models.file]\nsource = '{checkpoint}'\nconfig = '{folder}'\n"
        "[providers.local.models.cached]\nsource = 'someone/cached'\n"
        "[providers.local.models.remote]\nsource = 'someone/remote'\n"
        f"[providers.local.models.broken]\nsource = '{broken}'\n"
    )
    return config


def test_models_list_shows_where_each_model_lives_whether_present_and_its_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "models", "list"]) == 0
    out = capsys.readouterr().out
    lines = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.startswith("  ") and not line.startswith("    ")
    }
    assert re.search(r"present\s+3\.0 KB\s+\S+folder-model -> \S+folder-model$", lines["folder"])
    assert re.search(r"present\s+\d+ B\s+\S+model\.safetensors", lines["file"])
    assert re.search(r"present\s+2\.0 KB\s+someone/cached -> \S+snapshots/0{40}$", lines["cached"])
    assert re.search(r"missing\s+-\s+someone/remote -> \S+hub$", lines["remote"])
    assert "broken" in lines["broken"].split()[1]
    assert "has no model_index.json" in out
    assert "`python -m bot models pull` fetches it" in out


def test_models_pull_offline_refuses_in_one_line_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    config = write_config(tmp_path)
    assert main(["--config", str(config), "models", "pull", "remote", "cached"]) == 1
    captured = capsys.readouterr()
    assert "cached: someone/cached is already in" in captured.out
    [refusal] = captured.err.splitlines()
    assert refusal.startswith("remote: someone/remote is not in the local cache")
    assert "HF_HUB_OFFLINE" in refusal


def test_models_pull_refuses_a_name_that_is_not_configured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "models", "pull", "nope"]) == 2
    assert "No configured model named nope" in capsys.readouterr().out
