"""FLUX.1 LoRAs on the FLUX.1 edit and inpaint families through the engine: applied to one
Kontext edit or Fill repaint and gone after it, to the pixel."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import CancelToken, GenerationRequest, LoraRef, Mode
from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.families.flux1 import build_flux1_lora
from tests.engine.local.family_models import SMALL, FamilyModels

pytestmark = pytest.mark.timeout(300)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


PICTURE = png(Image.effect_noise((64, 64), 60).convert("RGB"))
MASK = png(Image.new("L", (64, 64), 255))


@pytest.mark.parametrize(
    ("key", "mode"), [("flux1-kontext", Mode.EDIT), ("flux1-fill", Mode.INPAINT)]
)
async def test_a_flux1_lora_changes_one_job_and_leaves_no_trace(
    family_models: FamilyModels, tmp_path: Path, key: str, mode: Mode
):
    lora = build_flux1_lora(family_models.folder(key), tmp_path / "built")
    shutil.copytree(lora.parent, tmp_path / "loras" / "style")
    options = {
        "device": "cpu",
        "models": {key: {"source": str(family_models.folder(key)), **SMALL}},
        "lora_dir": str(tmp_path / "loras"),
    }
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    mask = {"mask_image": MASK} if mode is Mode.INPAINT else {}
    plain = provider.prepare(
        GenerationRequest("make it night", model=key, mode=mode, init_image=PICTURE, seed=5, **mask)
    )
    styled = provider.prepare(plain.replace(loras=(LoraRef("style", 1.0),)))

    async def pixels(request: GenerationRequest) -> np.ndarray:
        result = await provider.generate(request, lambda _: None, CancelToken())
        return np.asarray(result.images[0].image, dtype=np.int16)

    try:
        before, with_lora, after = await pixels(plain), await pixels(styled), await pixels(plain)
    finally:
        await provider.close()
    assert not np.array_equal(before, with_lora)
    assert np.array_equal(before, after)
