"""The tiny SD model converted for OpenVINO once per session, through `models pull` as an
owner would, and engines over that conversion."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.conftest import TinyModels
from tests.engine.local.tiny import build_tiny_decoder


@dataclass(frozen=True)
class Converted:
    config: Path  # the bot's config file
    data_dir: Path
    model: dict[str, Any]  # the model's settings
    loras: Path
    pulled: str  # what `models pull` printed


@pytest.fixture(scope="session")
def converted(tiny: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Converted:
    from bot.cli import main

    root = tmp_path_factory.mktemp("openvino")
    model = {
        "source": str(tiny.sd),
        "tiny_decoder": str(build_tiny_decoder(root / "taesd")),
        "width": 64,
        "height": 64,
        "steps": 2,
        "guidance": 5.0,
        "max_size": 256,
    }
    config = root / "bot.toml"
    config.write_text(
        f"[storage]\ndata_dir = '{root / 'data'}'\n"
        "[providers.local]\nkind = 'local'\ndevice = 'cpu'\n"
        "[providers.local.models.tiny]\n"
        + "".join(f"{key} = {value!r}\n" for key, value in model.items())
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tracing tiny modules: one thread is quicker
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            assert main(["--config", str(config), "models", "pull", "tiny"]) == 0
    finally:
        torch.set_num_threads(threads)
    return Converted(config, root / "data", model, tiny.loras, out.getvalue())


def provider(converted: Converted, runtime: str, **options: Any) -> LocalProvider:
    model = {**converted.model, "runtime": runtime}
    settings = {
        "device": "cpu",
        "models": {"tiny": model},
        "lora_dir": str(converted.loras),
        **options,
    }
    built = build_provider("local", ProviderConfig("local", settings, data_dir=converted.data_dir))
    assert isinstance(built, LocalProvider)
    return built


@dataclass
class Engines:
    """An OpenVINO engine and a PyTorch one over the same model, and what the OpenVINO one
    logged while it started."""

    openvino: LocalProvider
    torch: LocalProvider
    start_log: str


@pytest.fixture(scope="module")
def engines(converted: Converted) -> Iterator[Engines]:
    """Started once per module; their calls run on their own threads, so any test's event
    loop can await them. Jobs above 72x64 pixels run on PyTorch (vae_tiling_pixels)."""
    options = {"preview_every": 1, "vae_tiling_pixels": 72 * 64}
    built = Engines(
        provider(converted, "auto", **options), provider(converted, "torch", **options), ""
    )
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger("engine").addHandler(handler)
    level = logging.getLogger("engine").level
    logging.getLogger("engine").setLevel(logging.INFO)
    try:
        asyncio.run(built.openvino.start())
    finally:
        logging.getLogger("engine").removeHandler(handler)
        logging.getLogger("engine").setLevel(level)
    built.start_log = log.getvalue()
    asyncio.run(built.torch.start())
    yield built
    for engine in (built.openvino, built.torch):
        asyncio.run(engine.close())
