"""``python -m bot models list`` and ``models pull`` against local folders, files and a
pre-filled hub cache; nothing is downloaded."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import constants

from bot.cli import main
from tests.engine.local.test_model_check import fill_cache
from tests.fakes.hub import serve_hub


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
    index = json.dumps({"_class_name": "StableDiffusionPipeline"}).encode()
    fill_cache(tmp_path / "hub", "someone/cached", {"model_index.json": index + b" " * 2000})
    config = tmp_path / "bot.toml"
    # runtime = 'torch': these stand-in models have no weights to convert for OpenVINO
    # (tests/engine/local/openvino converts a real one).
    config.write_text(
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        "[providers.local]\nkind = 'local'\ndevice = 'cpu'\n"
        f"cache_dir = '{tmp_path / 'hub'}'\n"
        f"[providers.local.models.folder]\nsource = '{folder}'\nruntime = 'torch'\n"
        f"[providers.local.models.file]\nsource = '{checkpoint}'\nconfig = '{folder}'\n"
        "runtime = 'torch'\n"
        "[providers.local.models.cached]\nsource = 'someone/cached'\nruntime = 'torch'\n"
        "[providers.local.models.remote]\nsource = 'someone/remote'\nruntime = 'torch'\n"
        f"[providers.local.models.broken]\nsource = '{broken}'\nruntime = 'torch'\n"
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


def test_models_pull_prints_size_and_destination_then_downloads_what_the_loader_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path)
    files = {
        "model_index.json": json.dumps({"_class_name": "StableDiffusionPipeline"}).encode(),
        "unet/config.json": b"{}",
        "unet/diffusion_pytorch_model.safetensors": b"w" * 2048,
        "unet/diffusion_pytorch_model.bin": b"b" * 4096,
        "sd.safetensors": b"s" * 4096,
    }
    with serve_hub({"someone/remote": files}) as (endpoint, hub):
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        template = f"{endpoint}/{{repo_id}}/resolve/{{revision}}/{{filename}}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        assert main(["--config", str(config), "models", "pull", "remote"]) == 0
    assert not [path for path in hub.requests if path.endswith(("sd.safetensors", ".bin"))]
    captured = capsys.readouterr()
    assert (
        f"remote: fetching someone/remote, 3 files, 2.0 KB, into {tmp_path / 'hub'}" in captured.out
    )
    snapshot = next((tmp_path / "hub" / "models--someone--remote" / "snapshots").iterdir())
    fetched = sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file())
    assert fetched == sorted(
        ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors"]
    )
    assert main(["--config", str(config), "models", "list"]) == 0
    listed = capsys.readouterr().out
    assert re.search(r"remote\s+present", listed), listed


def test_models_list_does_not_import_torch(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    script = (
        "import sys\nfrom bot.cli import main\n"
        f"main(['--config', {str(config)!r}, 'models', 'list'])\n"
        "print('torch loaded' if 'torch' in sys.modules else 'no torch')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.rstrip().endswith("no torch"), done.stdout + done.stderr
