"""Workflows, bindings and a provider built against the fake ComfyUI, for its tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine import GenerationRequest
from engine.registry import ProviderConfig, build_provider
from engine.remote.comfyui import ComfyUIProvider
from tests.engine.remote.fake_comfyui import FakeComfyUI

KEY = "comfy-proxy-key-4711"
EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "comfyui" / "txt2img-sd15.json"
BINDING = {
    "prompt": "6.text",
    "negative": "7.text",
    "seed": "3.seed",
    "steps": "3.steps",
    "cfg": "3.cfg",
    "sampler": "3.sampler_name",
    "width": "5.width",
    "height": "5.height",
}


def txt2img() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text())


def with_lora() -> dict[str, Any]:
    graph = txt2img()
    graph["10"] = {
        "class_type": "LoraLoader",
        "inputs": {
            "model": ["4", 0],
            "clip": ["4", 1],
            "lora_name": "ink.safetensors",
            "strength_model": 1.0,
            "strength_clip": 1.0,
        },
    }
    graph["3"]["inputs"]["model"] = ["10", 0]
    return graph


def inpaint() -> dict[str, Any]:
    graph = txt2img()
    del graph["5"]
    graph["10"] = {"class_type": "LoadImage", "inputs": {"image": "example.png"}}
    graph["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    graph["12"] = {
        "class_type": "SetLatentNoiseMask",
        "inputs": {"samples": ["11", 0], "mask": ["10", 1]},
    }
    graph["3"]["inputs"]["latent_image"] = ["12", 0]
    return graph


@pytest.fixture
async def comfy() -> AsyncIterator[FakeComfyUI]:
    fake = FakeComfyUI(auth=f"Bearer {KEY}")
    await fake.start()
    yield fake
    await fake.stop()


def workflow(tmp_path: Path, name: str, graph: dict[str, Any], **binding: Any) -> dict[str, Any]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(graph))
    return {"path": str(path), "binding": BINDING | binding}


async def provider(
    comfy: FakeComfyUI,
    tmp_path: Path,
    workflows: dict[str, Any] | None = None,
    key: str | None = KEY,
    **options: Any,
) -> ComfyUIProvider:
    if workflows is None:
        workflows = {"sd15": workflow(tmp_path, "sd15", txt2img())}
    built = build_provider(
        "comfyui",
        ProviderConfig(
            "comfy",
            {"base_url": comfy.base, "workflows": workflows, "poll_seconds": 0.2, **options},
            key,
            data_dir=tmp_path / "data",
        ),
    )
    assert isinstance(built, ComfyUIProvider)
    await built.start()
    return built


def request(p: ComfyUIProvider, **changes: Any) -> GenerationRequest:
    base = GenerationRequest("a lighthouse", seed=40, width=64, height=64)
    return p.prepare(base.replace(**changes))
