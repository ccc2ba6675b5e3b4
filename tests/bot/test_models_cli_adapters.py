"""``models list`` and ``models pull`` for the reference adapters: only each adapter's own
files are fetched from a (fake, loopback) hub, never the whole repo."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants

from bot import settings
from bot.check import check_local_models
from bot.cli import main
from tests.fakes.hub import serve_hub

REPO = "someone/ip-adapters"
FILES = {
    "sdxl_models/ip-adapter_sdxl.safetensors": b"w" * 1024,
    "sdxl_models/image_encoder/config.json": b"{}",
    "sdxl_models/image_encoder/model.safetensors": b"e" * 512,
    "models/ip-adapter_sd15.safetensors": b"o" * 4096,  # another adapter: never fetched
    "models/image_encoder/model.safetensors": b"n" * 4096,
}


def write_config(tmp_path: Path) -> Path:
    folder = tmp_path / "sd"
    folder.mkdir()
    config = tmp_path / "bot.toml"
    config.write_text(
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        "[providers.local]\nkind = 'local'\ndevice = 'cpu'\n"
        f"cache_dir = '{tmp_path / 'hub'}'\n"
        f"[providers.local.models.sd]\nsource = '{folder}'\nfamily = 'sd'\nruntime = 'torch'\n"
        "[providers.local.adapters.xl-style]\nfamily = 'sdxl'\n"
        f"source = '{REPO}'\nsubfolder = 'sdxl_models'\n"
        "weight_name = 'ip-adapter_sdxl.safetensors'\nlicence = 'apache-2.0'\n"
        "[providers.local.adapters.sd-style]\nfamily = 'sd'\n"
        f"source = '{tmp_path / 'nowhere'}'\nweight_name = 'ip.safetensors'\n"
    )
    return config


def test_pull_fetches_only_the_adapters_files_and_list_shows_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "models", "list"]) == 0
    listed = capsys.readouterr().out
    assert "xl-style (adapter)" in listed and "missing" in listed
    assert "style references on sdxl · apache-2.0" in listed
    with serve_hub({REPO: FILES}) as (endpoint, hub):
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        template = f"{endpoint}/{{repo_id}}/resolve/{{revision}}/{{filename}}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        assert main(["--config", str(config), "models", "pull", "xl-style"]) == 0
    assert not [path for path in hub.requests if "/resolve/" in path and "sdxl" not in path]
    out = capsys.readouterr().out
    assert "xl-style: fetching sdxl_models/ip-adapter_sdxl.safetensors, sdxl_models/" in out
    snapshot = next((tmp_path / "hub" / "models--someone--ip-adapters" / "snapshots").iterdir())
    fetched = sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file())
    assert fetched == sorted(name for name in FILES if name.startswith("sdxl_models/"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(["--config", str(config), "models", "list"]) == 0
    listed = capsys.readouterr().out
    line = next(line for line in listed.splitlines() if "xl-style (adapter)" in line)
    assert "present" in line


def test_a_folder_adapter_without_its_files_is_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["--config", str(config), "models", "pull", "sd-style"]) == 1
    assert f"sd-style: {tmp_path / 'nowhere' / 'ip.safetensors'}" in capsys.readouterr().out
    assert main(["--config", str(config), "models", "list"]) == 0
    line = next(
        line for line in capsys.readouterr().out.splitlines() if "sd-style (adapter)" in line
    )
    assert "broken" in line


def test_check_reports_each_adapter(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    lines = {line.item: line for line in check_local_models(settings.load(config, environ={}))}
    missing, broken = lines["adapter local/xl-style"], lines["adapter local/sd-style"]
    assert not missing.ok and "not downloaded" in missing.text
    assert not broken.ok and "ip.safetensors, " in broken.text
    assert broken.text.endswith("image_encoder/config.json not found")
