"""ControlNet on a flow-matching family: FLUX.1 [dev] with a tiny FLUX.1 ControlNet (plain
and union) loaded by the real loader, end to end through the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import CancelToken, GenerationRequest, GenerationResult, InvalidRequest, Mode, Progress
from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider
from engine.types import Control, ControlKind
from tests.engine.local.control.conftest import TinyControl
from tests.engine.local.control.test_controlnet import picture
from tests.engine.local.control.tiny_nets import (
    build_flux_control_transformer,
    build_flux_controlnet,
)
from tests.engine.local.family_models import FamilyModels

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def flux_nets(family_models: FamilyModels, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flux-controlnets")
    folder = family_models.folder("flux1")
    build_flux_controlnet(folder, root / "canny")
    build_flux_controlnet(folder, root / "union", union=True)
    build_flux_control_transformer(folder, root / "lineart-transformer")
    return root


@pytest.fixture
async def flux(
    family_models: FamilyModels, flux_nets: Path, tiny_control: TinyControl
) -> AsyncIterator[LocalProvider]:
    options = family_models.options(
        ["flux1", "flux1-kontext"],
        controlnets={
            "flux-canny": {
                "source": str(flux_nets / "canny"),
                "family": "flux1",
                "kinds": ["canny"],
            },
            "flux-union": {
                "source": str(flux_nets / "union"),
                "family": "flux1",
                "modes": {"canny": 0, "depth": 2},
            },
            "flux-lineart": {
                "source": str(flux_nets / "lineart-transformer"),
                "family": "flux1",
                "kinds": ["lineart"],
                "transformer": True,
            },
        },
        depth_model=str(tiny_control.depth),
        pose_model=None,
        preview_every=1,
    )
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    await provider.start()
    yield provider
    await provider.close()


async def run(provider: LocalProvider, **options: Any) -> GenerationResult:
    progress = options.pop("progress", lambda _: None)
    request = provider.prepare(GenerationRequest("a cat", seed=7, model="flux1", **options))
    return await provider.generate(request, progress, CancelToken())


def pixels(result: GenerationResult) -> np.ndarray:
    return np.asarray(result.images[0].image, dtype=np.int16)


def control(kind: ControlKind, **settings: float) -> dict[str, Any]:
    return {"control": Control(kind, **settings), "control_image": picture()}


async def test_flux_follows_canny_and_depth_with_previews(flux: LocalProvider) -> None:
    plain = await run(flux)
    reports: list[Progress] = []
    canny = await run(flux, progress=reports.append, **control(ControlKind.CANNY))
    depth = await run(flux, **control(ControlKind.DEPTH))  # through the union ControlNet
    assert np.abs(pixels(canny) - pixels(plain)).max() > 0
    assert np.abs(pixels(depth) - pixels(canny)).max() > 0
    assert canny.info["control_map"].startswith(b"\x89PNG")
    assert any(report.preview is not None for report in reports)


async def test_flux_strength_changes_the_picture(flux: LocalProvider) -> None:
    full = await run(flux, **control(ControlKind.CANNY, strength=1.0))
    half = await run(flux, **control(ControlKind.CANNY, strength=0.3))
    assert np.abs(pixels(full) - pixels(half)).max() > 0


async def test_flux_img2img_follows_the_map(flux: LocalProvider) -> None:
    start = {"mode": Mode.IMG2IMG, "init_image": picture(), "strength": 0.8}
    plain = await run(flux, **start)
    steered = await run(flux, **start, **control(ControlKind.CANNY))
    assert np.abs(pixels(steered) - pixels(plain)).max() > 0


def test_flux_models_say_what_they_follow_and_kontext_follows_none(flux: LocalProvider) -> None:
    assert flux.model_info("flux1").controls == {
        ControlKind.CANNY,
        ControlKind.DEPTH,
        ControlKind.LINEART,
    }
    assert flux.model_info("flux1-kontext").controls == frozenset()
    with pytest.raises(InvalidRequest, match="flux1 can"):
        flux.prepare(
            GenerationRequest("a cat", seed=7, model="flux1-kontext", **control(ControlKind.CANNY))
        )
    with pytest.raises(InvalidRequest, match="no model here can"):
        flux.prepare(GenerationRequest("a cat", seed=7, model="flux1", **control(ControlKind.POSE)))


def test_img2img_with_a_control_on_a_family_without_controlnets_names_who_can(
    flux: LocalProvider,
) -> None:
    start = {"mode": Mode.IMG2IMG, "init_image": picture(), "strength": 0.8}
    with pytest.raises(InvalidRequest, match="doesn't follow canny maps here; flux1 can"):
        flux.prepare(
            GenerationRequest(
                "a cat", seed=7, model="flux1-kontext", **start, **control(ControlKind.CANNY)
            )
        )


async def test_a_control_transformer_runs_in_place_of_the_models_own(flux: LocalProvider) -> None:
    plain = await run(flux)
    steered = await run(flux, **control(ControlKind.LINEART))
    assert np.abs(pixels(steered) - pixels(plain)).max() > 0
    assert steered.info["control_map"].startswith(b"\x89PNG")
    start = {"mode": Mode.IMG2IMG, "init_image": picture(), "strength": 0.8}
    again = await run(flux, **start, **control(ControlKind.LINEART))
    assert again.images[0].image.size == (64, 64)
    after = await run(flux)  # the model's own transformer is back
    assert np.array_equal(pixels(after), pixels(plain))


def test_a_control_transformer_takes_no_strength_or_range(flux: LocalProvider) -> None:
    for settings in ({"strength": 0.5}, {"start": 0.2}, {"end": 0.8}):
        with pytest.raises(InvalidRequest, match="follows lineart maps whole"):
            flux.prepare(
                GenerationRequest(
                    "a cat", seed=7, model="flux1", **control(ControlKind.LINEART, **settings)
                )
            )
