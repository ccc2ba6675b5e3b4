"""ControlNet on Stable Diffusion 3.5 (a flow-matching family): a tiny SD3 ControlNet loaded by
the real loader, followed from a prompt; img2img with a control refused up front."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import CancelToken, GenerationRequest, InvalidRequest, Mode
from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider
from engine.types import Control, ControlKind
from tests.engine.local.control.test_controlnet import picture
from tests.engine.local.control.tiny_nets import build_sd3_controlnet, build_sd3_two_blocks
from tests.engine.local.family_models import FamilyModels

pytestmark = pytest.mark.timeout(300)


async def test_sd3_follows_a_canny_map_from_a_prompt_only(
    family_models: FamilyModels, tmp_path: Path
) -> None:
    sd3 = build_sd3_two_blocks(family_models.folder("sd3"), tmp_path / "sd3")
    net = build_sd3_controlnet(sd3, tmp_path / "sd3-canny")
    options = family_models.options(
        [],
        models={"sd3": {"source": str(sd3)}},
        controlnets={"sd3-canny": {"source": str(net), "family": "sd3", "kinds": ["canny"]}},
    )
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    await provider.start()
    try:
        assert provider.model_info("sd3").controls == {ControlKind.CANNY}
        control = {"control": Control(ControlKind.CANNY), "control_image": picture()}
        plain = await provider.generate(
            provider.prepare(GenerationRequest("a cat", seed=7, model="sd3")),
            lambda _: None,
            CancelToken(),
        )
        steered = await provider.generate(
            provider.prepare(GenerationRequest("a cat", seed=7, model="sd3", **control)),
            lambda _: None,
            CancelToken(),
        )
        first = np.asarray(plain.images[0].image, dtype=np.int16)
        assert np.abs(np.asarray(steered.images[0].image, dtype=np.int16) - first).max() > 0
        assert steered.info["control_map"].startswith(b"\x89PNG")
        start = {"mode": Mode.IMG2IMG, "init_image": picture(), "strength": 0.8}
        with pytest.raises(InvalidRequest, match="from a prompt only"):
            provider.prepare(GenerationRequest("a cat", seed=7, model="sd3", **start, **control))
    finally:
        await provider.close()
