"""The tiny ControlNets, depth and pose models, built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from tests.engine.local.conftest import TinyModels
from tests.engine.local.control.tiny_maps import build_depth, build_pose
from tests.engine.local.control.tiny_nets import build_controlnet


@dataclass(frozen=True)
class TinyControl:
    sd: Path
    sdxl: Path
    sdxl_union: Path
    depth: Path
    pose: Path


@pytest.fixture(scope="session")
def tiny_control(tiny: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> TinyControl:
    root = tmp_path_factory.mktemp("tiny-control")
    return TinyControl(
        sd=build_controlnet(tiny.sd, root / "sd-canny"),
        sdxl=build_controlnet(tiny.sdxl, root / "sdxl-depth"),
        sdxl_union=build_controlnet(tiny.sdxl, root / "sdxl-union", union=True),
        depth=build_depth(root / "depth"),
        pose=build_pose(root / "pose"),
    )


@pytest.fixture(scope="package", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
