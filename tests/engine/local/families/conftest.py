"""The tiny family pipelines and their LoRAs, built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.engine.local.families.chroma import build_chroma, build_chroma_lora
from tests.engine.local.families.flux1 import build_flux1, build_flux1_lora
from tests.engine.local.families.sd3 import build_sd3, build_sd3_lora


@pytest.fixture(scope="package", autouse=True)
def one_thread() -> Iterator[None]:
    """Models this small run fastest on one thread; with two, a busy 2-core machine makes
    OpenMP threads wait on each other and the same tests take ten times as long."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def families_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("families")


@pytest.fixture(scope="session", params=["dev", "schnell"])
def flux1_folder(request: pytest.FixtureRequest, families_root: Path) -> Path:
    folder = families_root / f"flux1-{request.param}"
    if not folder.exists():
        build_flux1(folder, schnell=request.param == "schnell")
    return folder


@pytest.fixture(scope="session")
def flux1_dev_folder(families_root: Path) -> Path:
    folder = families_root / "flux1-dev"
    if not folder.exists():
        build_flux1(folder)
    return folder


@pytest.fixture(scope="session")
def flux1_lora(flux1_dev_folder: Path, families_root: Path) -> Path:
    return build_flux1_lora(flux1_dev_folder, families_root / "flux1-lora")


@pytest.fixture(scope="session")
def chroma_folder(families_root: Path) -> Path:
    return build_chroma(families_root / "chroma")


@pytest.fixture(scope="session")
def chroma_lora(chroma_folder: Path, families_root: Path) -> Path:
    return build_chroma_lora(chroma_folder, families_root / "chroma-lora")


@pytest.fixture(scope="session")
def sd3_folder(families_root: Path) -> Path:
    return build_sd3(families_root / "sd3")


@pytest.fixture(scope="session")
def sd3_lora(sd3_folder: Path, families_root: Path) -> Path:
    return build_sd3_lora(sd3_folder, families_root / "sd3-lora")
