"""A tiny FLUX.1 [dev] folder and its transformer as single files, built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.engine.local.families.flux1 import build_flux1
from tests.engine.local.memory.gguf_file import write_gguf

TRANSFORMER = Path("transformer") / "diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="package", autouse=True)
def one_thread() -> Iterator[None]:
    """Models this small run fastest on one thread (see tests/engine/local/families)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def memory_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("memory")


@pytest.fixture(scope="session")
def flux(memory_root: Path) -> Path:
    return build_flux1(memory_root / "flux1-dev")


@pytest.fixture(scope="session")
def flux_safetensors(flux: Path, memory_root: Path) -> Path:
    """The transformer alone in one file, as finetunes are shared."""
    path = memory_root / "flux1-dev-transformer.safetensors"
    save_file(load_file(str(flux / TRANSFORMER)), str(path))
    return path


@pytest.fixture(scope="session")
def flux_gguf(flux: Path, memory_root: Path) -> Path:
    return write_gguf(load_file(str(flux / TRANSFORMER)), memory_root / "flux1-dev-Q8_0.gguf")
