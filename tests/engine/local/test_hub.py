"""A hub id that is not cached: one clear line when the hub cannot be reached, nothing retried."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants

from engine.local.families.unet import SD
from engine.local.hub import fetch, wanted_files
from engine.local.options import ModelSpec
from engine.local.pipelines import ModelLoadError, load_model
from tests.fakes.hub import serve_hub


def _load(spec: ModelSpec, cache: Path) -> None:
    load_model(
        "turbo",
        spec,
        SD,
        device=torch.device("cpu"),
        dtype=torch.float32,
        cache_dir=str(cache),
        compile_unet=False,
    )


@pytest.fixture
def closed_hub(monkeypatch: pytest.MonkeyPatch) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    return endpoint


def test_offline_with_an_empty_cache_says_so_in_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError) as raised:
        _load(ModelSpec(source="someone/not-cached"), tmp_path)
    text = str(raised.value)
    assert "\n" not in text
    assert "someone/not-cached" in text
    assert "HF_HUB_OFFLINE" in text
    assert "models pull" in text
    assert "local folder" in text


def test_an_unreachable_hub_is_named_in_one_line_without_retries(
    tmp_path: Path, closed_hub: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ModelLoadError) as raised:
        _load(ModelSpec(source="someone/not-cached"), tmp_path)
    text = str(raised.value)
    assert "\n" not in text
    assert f"the hub {closed_hub} cannot be reached" in text
    assert "models pull" in text
    assert "model_index.json" not in text
    assert not [r for r in caplog.records if "retry" in r.getMessage().lower()]


def test_an_unreachable_hub_for_a_tiny_decoder_keeps_the_decoder_hint(
    tmp_path: Path, closed_hub: str
) -> None:
    from engine.local.pipelines import load_tiny_decoder

    with pytest.raises(ModelLoadError) as raised:
        load_tiny_decoder("madebyollin/taesd", None, SD, str(tmp_path))
    text = str(raised.value)
    assert "tiny decoder madebyollin/taesd" in text
    assert "cannot be reached" in text
    assert 'decoder = "full"' in text


def test_the_files_fetched_are_the_ones_the_loader_reads() -> None:
    files = [
        "model_index.json",
        "README.md",
        "sd_turbo.safetensors",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin",
        "text_encoder/model.fp16.safetensors",
        "text_encoder/model.safetensors",
        "tokenizer/vocab.json",
        "vae/diffusion_pytorch_model.bin",
    ]
    assert wanted_files(files, "fp16") == [
        "model_index.json",
        "text_encoder/model.fp16.safetensors",
        "tokenizer/vocab.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.bin",
    ]
    assert "unet/diffusion_pytorch_model.safetensors" in wanted_files(files, None)


def test_a_download_is_logged_with_its_size_and_destination_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    files = {"config.json": b"{}", "diffusion_pytorch_model.safetensors": b"w" * 3072}
    with serve_hub({"someone/taesd": files}) as (endpoint, hub):
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        template = f"{endpoint}/{{repo_id}}/resolve/{{revision}}/{{filename}}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        caplog.set_level(logging.INFO, logger="engine")
        folder = fetch("someone/taesd", None, str(tmp_path), "tiny decoder")
        [announced] = [r for r in caplog.records if r.name == "engine.local.hub"]
        assert announced.getMessage() == (
            f"Downloading the tiny decoder someone/taesd: 2 files, 3.0 KB, into {tmp_path}"
        )
        downloads = [path for path in hub.requests if "/resolve/" in path]
        assert downloads and (folder / "config.json").is_file()
        assert fetch("someone/taesd", None, str(tmp_path)) == folder
        assert [path for path in hub.requests if "/resolve/" in path] == downloads
