"""Shared set-up for the CPU benchmarks: the tests' tiny SD 1.x model, built in a temp dir."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.tiny import build_sd


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
