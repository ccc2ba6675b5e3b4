"""Shared set-up for the CPU benchmarks: the tests' tiny pipelines, built in a temp dir."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.families.chroma import build_chroma
from tests.engine.local.families.flux1 import build_flux1
from tests.engine.local.families.flux2_klein import build_flux2_klein
from tests.engine.local.families.qwen_image import build_qwen_image
from tests.engine.local.families.sana import build_sana, build_sana_sprint
from tests.engine.local.families.sd3 import build_sd3
from tests.engine.local.families.z_image import build_z_image
from tests.engine.local.tiny import build_sd, build_sdxl

# One tiny pipeline per family key (engine/local/families/table.py), as the tests build them.
BUILDERS: dict[str, Callable[[Path], Path]] = {
    "sd": build_sd,
    "sdxl": build_sdxl,
    "sd3": build_sd3,
    "flux1-schnell": lambda folder: build_flux1(folder, schnell=True),
    "flux1": build_flux1,
    "chroma": build_chroma,
    "qwen-image": build_qwen_image,
    "z-image": build_z_image,
    "flux2-klein": build_flux2_klein,
    "flux2-klein-base": lambda folder: build_flux2_klein(folder, distilled=False),
    "sana": build_sana,
    "sana-sprint": build_sana_sprint,
}


def tiny_provider(size: int, steps: int, **options: object) -> tuple[LocalProvider, Path]:
    folder = Path(tempfile.mkdtemp(prefix="bench-tiny-")) / "sd"
    build_sd(folder)
    spec = {
        "source": str(folder),
        "width": size,
        "height": size,
        "steps": steps,
        "max_size": 1024,
        "runtime": "torch",  # these scripts measure the PyTorch engine
    }
    provider = build_provider(
        "local", ProviderConfig("local", {"device": "cpu", "models": {"tiny": spec}, **options})
    )
    assert isinstance(provider, LocalProvider)
    return provider, folder


def family_provider(
    family: str, root: Path, size: int, steps: int, **options: object
) -> LocalProvider:
    """The engine on the tiny pipeline of ``family``, its one model named after the family."""
    folder = BUILDERS[family](root / family)
    spec = {"source": str(folder), "width": size, "height": size, "steps": steps, "max_size": 1024}
    provider = build_provider(
        "local", ProviderConfig("local", {"device": "cpu", "models": {family: spec}, **options})
    )
    assert isinstance(provider, LocalProvider)
    return provider
