"""Tiny models on disk for the local engine's tests, built once per session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.tiny import build_lora, build_sd, build_sdxl, write_single_file


@dataclass(frozen=True)
class TinyModels:
    sd: Path
    sdxl: Path
    single_file: Path
    loras: Path


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    root = tmp_path_factory.mktemp("tiny-models")
    sd = build_sd(root / "sd")
    loras = root / "loras"
    build_lora(sd, loras / "inkwash")
    (loras / "pixelart.safetensors").write_bytes(
        (build_lora(sd, root / "lora-tmp", seed=2)).read_bytes()
    )
    return TinyModels(
        sd=sd,
        sdxl=build_sdxl(root / "sdxl"),
        single_file=write_single_file(sd, root / "sd-single.safetensors"),
        loras=loras,
    )


def local_options(tiny: TinyModels, **options: Any) -> dict[str, Any]:
    # PyTorch, whether or not the openvino extra is installed: tests/engine/local/openvino
    # covers that path.
    small = {
        "width": 64,
        "height": 64,
        "steps": 3,
        "guidance": 5.0,
        "max_size": 256,
        "runtime": "torch",
    }
    return {
        "device": "cpu",
        # Models this small run fastest on one thread; with one per core, a busy 2-core
        # machine makes OpenMP threads wait on each other (test_device checks the default).
        "threads": 1,
        "models": {
            "tiny": {"source": str(tiny.sd), **small},
            "tiny-xl": {"source": str(tiny.sdxl), **small, "max_size": 512},
            "tiny-file": {"source": str(tiny.single_file), "config": str(tiny.sd), **small},
        },
        "lora_dir": str(tiny.loras),
        **options,
    }


@pytest.fixture
def make_local(tiny: TinyModels) -> Callable[..., LocalProvider]:
    def make(**options: Any) -> LocalProvider:
        provider = build_provider("local", ProviderConfig("local", local_options(tiny, **options)))
        assert isinstance(provider, LocalProvider)
        return provider

    return make


@pytest.fixture
async def local(make_local: Callable[..., LocalProvider]) -> AsyncIterator[LocalProvider]:
    provider = make_local()
    await provider.start()
    yield provider
    await provider.close()
