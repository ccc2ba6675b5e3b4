"""Which edit and canvas modes each remote kind does, as its document allows: the others are
refused before anything is sent, and /models (``model_info``) says the same."""

from __future__ import annotations

from typing import Any

import pytest

from engine import GenerationRequest, InvalidRequest, Mode
from engine.registry import ProviderConfig, build_provider
from engine.types import CANVAS_WORDS
from tests.fakes.http_api import png

# kind: (options, the canvas modes its document allows)
KINDS: dict[str, tuple[dict[str, Any], frozenset[Mode]]] = {
    "a1111": ({"models": ["sd15"]}, frozenset({Mode.INPAINT, Mode.OUTPAINT})),
    "openai": ({"models": ["gpt-image-1"]}, frozenset()),
    "openai-edits": (
        {"models": ["gpt-image-1"], "edits": True},
        frozenset({Mode.EDIT, Mode.INPAINT, Mode.OUTPAINT}),
    ),
    "sdapi": ({"models": ["dreamshaper"]}, frozenset()),  # img2img only
    "visioncraft": ({"models": ["sdxl-base"]}, frozenset()),  # txt2img only
    "apiframe": ({"trainings": {"alex": "task-1"}}, frozenset()),  # txt2img only
    "swarmui": ({"models": ["sdxl"]}, frozenset({Mode.INPAINT, Mode.OUTPAINT})),
    "horde": ({"models": ["Deliberate"]}, frozenset()),  # txt2img and img2img
}


@pytest.mark.parametrize("name", KINDS)
async def test_each_kind_takes_exactly_the_canvas_modes_its_document_allows(name: str):
    options, allowed = KINDS[name]
    kind = name.removesuffix("-edits")
    provider = build_provider(
        kind,
        ProviderConfig(name, {"base_url": "http://127.0.0.1:9", **options}, "sk-canvas-modes-618"),
    )
    info = provider.model_info(provider.default_model)
    assert {mode for mode in CANVAS_WORDS if info.takes(mode)} == allowed
    for mode in set(CANVAS_WORDS) - allowed:
        request = GenerationRequest(
            "x", mode=mode, init_image=png(), mask_image=png((255, 255, 255)), seed=None
        )
        with pytest.raises(InvalidRequest) as caught:
            provider.prepare(request)
        assert caught.value.field == "mode"
        assert CANVAS_WORDS[mode] in caught.value.allowed
    await provider.close()
