"""FLUX.1 follows references through an IP-Adapter loaded into its transformer for the call
(diffusers' FluxIPAdapterMixin), on tiny FLUX.1 [dev] through the local engine."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import FluxPipeline

from engine import (
    CancelToken,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    Mode,
    Reference,
    ReferenceKind,
)
from engine.errors import ProviderConfigError
from engine.local import LocalProvider
from engine.local.families import by_key
from engine.local.memory.load import place
from engine.local.memory.recipe import Recipe
from engine.local.options import parse_local_options
from engine.local.reference_adapters import ReferenceAdapters
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.family_models import FamilyModels
from tests.engine.local.test_references import png
from tests.engine.local.tiny_adapter import build_flux_ip_adapter, build_redux

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.timeout(300)]

STYLE, SUBJECT = ReferenceKind.STYLE, ReferenceKind.SUBJECT


@pytest.fixture(scope="module")
def adapter(family_models: FamilyModels, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_flux_ip_adapter(
        family_models.folder("flux1"), tmp_path_factory.mktemp("flux-adapter")
    )


def settings(family_models: FamilyModels, adapter: Path, **entry: Any) -> dict[str, Any]:
    return family_models.options(
        ["flux1", "flux1-kontext"],
        adapters={
            "flux-style": {
                "family": "flux1",
                "source": str(adapter),
                "subfolder": "models",
                "weight_name": "ip-adapter.safetensors",
                **entry,
            }
        },
    )


@pytest.fixture(scope="module")
def engine(
    family_models: FamilyModels, adapter: Path, one_torch_thread: None
) -> Iterator[LocalProvider]:
    provider = build_provider("local", ProviderConfig("local", settings(family_models, adapter)))
    assert isinstance(provider, LocalProvider)
    yield provider
    asyncio.run(provider.close())


def ask(*references: tuple[ReferenceKind, float], **more: Any) -> GenerationRequest:
    return GenerationRequest(
        "a red bicycle",
        model=more.pop("model", "flux1"),
        seed=5,
        references=tuple(Reference(kind, weight) for kind, weight in references),
        reference_images=tuple(png(index) for index in range(len(references))),
        **more,
    )


async def draw(provider: LocalProvider, request: GenerationRequest) -> np.ndarray:
    result = await provider.generate(provider.prepare(request), lambda _: None, CancelToken())
    assert isinstance(result, GenerationResult)
    return np.asarray(result.images[0].image, dtype=np.int16)


async def test_flux1_follows_a_reference_and_leaves_no_trace(engine: LocalProvider):
    plain = await draw(engine, ask())
    pipe = engine.cache.get("flux1").pipeline(Mode.TXT2IMG)
    processors = dict(pipe.transformer.attn_processors)
    one = await draw(engine, ask((STYLE, 1.0)))
    zero = await draw(engine, ask((STYLE, 0.0)))
    several = await draw(engine, ask((STYLE, 1.0), (STYLE, 0.5), (STYLE, 1.5)))
    assert np.abs(one - plain).max() > 0 and np.abs(several - one).max() > 0
    assert zero.tolist() == plain.tolist()
    assert (await draw(engine, ask())).tolist() == plain.tolist()
    assert pipe.transformer.attn_processors == processors
    assert not hasattr(pipe.transformer, "encoder_hid_proj") and pipe.image_encoder is None


def test_flux1_says_what_it_follows(engine: LocalProvider):
    assert engine.model_info("flux1").references == {STYLE}
    assert engine.model_info("flux1-kontext").references == frozenset()


def test_flux1_refuses_a_kind_it_has_no_adapter_for(engine: LocalProvider):
    with pytest.raises(InvalidRequest, match="follows no subject references; no model here"):
        engine.prepare(ask((SUBJECT, 1.0)))


def test_flux1_adapters_take_one_scale(family_models: FamilyModels, adapter: Path):
    options = settings(family_models, adapter, blocks={"up": {"block_0": [1.0]}})
    with pytest.raises(ProviderConfigError, match="takes one scale"):
        build_provider("local", ProviderConfig("local", options))


@pytest.mark.parametrize(
    "recipe",
    [Recipe("model_offload"), Recipe("group_offload"), Recipe("gpu", fp8_storage=True)],
    ids=lambda recipe: recipe.summary,
)
def test_an_adapter_runs_on_an_offloaded_model(
    family_models: FamilyModels, adapter: Path, recipe: Recipe
):
    """The offload paths with the CPU standing for the GPU (as tests/engine/local/memory do):
    the adapter's layers, made after the hooks, still run, and give the plain model's image."""
    options = parse_local_options(settings(family_models, adapter))
    references = ReferenceAdapters(options.adapters, None, torch.device("cpu"))
    request = ask((STYLE, 1.0))

    def run(pipe: Any) -> np.ndarray:
        generator = torch.Generator("cpu").manual_seed(1)
        with references.applied(by_key("flux1"), pipe, request, "flux1") as extra:
            return pipe(
                "a cat",
                generator=generator,
                height=64,
                width=64,
                num_inference_steps=2,
                output_type="np",
                **extra,
            ).images

    plain = FluxPipeline.from_pretrained(family_models.folder("flux1"))
    placed = FluxPipeline.from_pretrained(family_models.folder("flux1"))
    place(placed, recipe, torch.device("cpu"), torch.float32)
    # offloading moves weights, not values; fp8 storage rounds them
    assert np.abs(run(placed) - run(plain)).max() < (0.1 if recipe.fp8_storage else 1e-5)


@pytest.fixture(scope="module")
def redux_engine(
    family_models: FamilyModels, adapter: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalProvider]:
    """FLUX.1 with Redux for style and the IP-Adapter for subject."""
    redux = build_redux(family_models.folder("flux1"), tmp_path_factory.mktemp("redux"))
    options = settings(family_models, adapter, kind="subject")
    options["adapters"]["flux-redux"] = {"family": "flux1", "source": str(redux), "type": "redux"}
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    yield provider
    asyncio.run(provider.close())


async def test_redux_follows_references_by_weight(redux_engine: LocalProvider):
    plain = await draw(redux_engine, ask())
    one = await draw(redux_engine, ask((STYLE, 1.0)))
    half = await draw(redux_engine, ask((STYLE, 0.5)))
    zero = await draw(redux_engine, ask((STYLE, 0.0)))
    blend = await draw(redux_engine, ask(*[(STYLE, 1.0)] * 3).replace(prompt=""))
    assert np.abs(one - plain).max() > 0 and np.abs(half - one).max() > 0
    assert zero.tolist() == plain.tolist()  # left out
    assert blend.shape == plain.shape
    assert (await draw(redux_engine, ask())).tolist() == plain.tolist()


async def test_redux_and_an_ip_adapter_in_one_job(redux_engine: LocalProvider):
    redux = await draw(redux_engine, ask((STYLE, 1.0)))
    both = await draw(redux_engine, ask((STYLE, 1.0), (SUBJECT, 1.0)))
    assert np.abs(both - redux).max() > 0
    assert redux_engine.model_info("flux1").references == {STYLE, SUBJECT}


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"family": "sdxl", "type": "redux"}, "FLUX.1 Redux is for FLUX.1, not SDXL"),
        ({"family": "flux1", "type": "redux", "weight_name": "x.bin"}, "takes no weight_name"),
        ({"family": "flux1"}, "an IP-Adapter needs weight_name"),
    ],
)
def test_redux_settings_are_checked(entry: dict[str, Any], words: str):
    with pytest.raises(ProviderConfigError, match=words):
        parse_local_options({"adapters": {"r": {"source": "/x", **entry}}})
