"""What each family takes, through the local engine: a model with no settings takes its family's
defaults; options a family cannot honour are refused up front, naming the option and the model;
the flow samplers run on every flow-matching family."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from engine import CancelToken, GenerationRequest, InvalidRequest
from engine.local import LocalProvider
from engine.local.families import FAMILIES, by_key, recognise
from engine.local.samplers import FLOW_SAMPLERS
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.family_models import FAMILY_KEYS, FamilyModels

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.timeout(300)]

FLOW = [key for key in FAMILY_KEYS if by_key(key).samplers is FLOW_SAMPLERS]
NO_NEGATIVE = [
    "flux1-schnell",
    "flux1",
    "flux1-kontext",
    "flux1-fill",
    "flux2-klein",
    "flux2-klein-base",
    "sana-sprint",
]
NO_GUIDANCE = ["flux1-schnell", "flux2-klein"]
A1111 = ["Euler a", "DPM++ 2M Karras", "DDIM"]


@pytest.fixture(scope="module")
def engine(family_models: FamilyModels, one_torch_thread: None) -> Iterator[LocalProvider]:
    provider = build_provider("local", ProviderConfig("local", family_models.options(FAMILY_KEYS)))
    assert isinstance(provider, LocalProvider)
    yield provider
    asyncio.run(provider.close())


def ask(provider: LocalProvider, key: str, **options: object) -> GenerationRequest:
    return provider.prepare(GenerationRequest("a red boat", model=key, seed=7, **options))  # type: ignore[arg-type]


def test_every_family_has_a_tiny_folder_recognised_as_it(family_models: FamilyModels):
    assert set(FAMILY_KEYS) == {family.key for family in FAMILIES}
    assert [recognise(family_models.folder(key)).key for key in FAMILY_KEYS] == list(FAMILY_KEYS)


@pytest.mark.parametrize("key", FAMILY_KEYS)
def test_a_model_without_settings_takes_its_family_defaults(family_models: FamilyModels, key: str):
    options = {"device": "cpu", "models": {key: {"source": str(family_models.folder(key))}}}
    provider = build_provider("local", ProviderConfig("local", options))
    family = by_key(key)
    request = provider.prepare(GenerationRequest("a red boat"))
    assert request.model == key
    assert request.size == (family.width, family.height)
    assert request.steps == family.steps
    assert request.guidance == (family.guidance if family.takes_guidance else None)
    assert request.sampler is None  # the model's own scheduler
    info = provider.model_info(key)
    assert (info.family, info.negative_prompt, info.guidance, info.img2img) == (
        family.label,
        family.negative_prompt,
        family.takes_guidance,
        family.image2img is not None,
    )
    assert info.samplers == tuple(family.samplers)


REFUSALS = [
    *[
        (key, {"negative_prompt": "blurry"}, "negative", "takes no negative prompt")
        for key in NO_NEGATIVE
    ],
    *[(key, {"guidance": 3.0}, "guidance", "ignores guidance") for key in NO_GUIDANCE],
    *[
        (key, {"sampler": name}, "sampler", "Euler (flow), Euler (flow) Karras")
        for key in FLOW
        for name in A1111
    ],
    *[("sana-sprint", {"sampler": name}, "sampler", "has only its own sampler") for name in A1111],
    *[
        (key, {"sampler": "Euler (flow)"}, "sampler", "takes Euler, Euler a")
        for key in ("sd", "sdxl")
    ],
    *[
        (
            key,
            {"width": 64 + by_key(key).size_multiple // 2},
            "width",
            f"a multiple of {by_key(key).size_multiple}",
        )
        for key in FAMILY_KEYS
    ],
]


@pytest.mark.parametrize(
    ("key", "options", "field", "words"),
    REFUSALS,
    ids=[f"{key}-{field}-{next(iter(options.values()))}" for key, options, field, _ in REFUSALS],
)
def test_an_option_the_family_cannot_honour_is_refused_naming_it_and_the_model(
    engine: LocalProvider, key: str, options: dict[str, object], field: str, words: str
):
    with pytest.raises(InvalidRequest) as refused:
        ask(engine, key, **options)
    assert refused.value.field == field
    assert words in str(refused.value)
    assert key in str(refused.value)


@pytest.mark.parametrize("key", FLOW)
async def test_every_flow_sampler_runs_and_repeats_on_each_flow_family(
    engine: LocalProvider, key: str
):
    async def draw(request: GenerationRequest) -> np.ndarray:
        result = await engine.generate(request, lambda _: None, CancelToken())
        return np.asarray(result.images[0].image, dtype=np.int16)

    default = await draw(ask(engine, key, steps=4))
    for sampler in FLOW_SAMPLERS:
        request = ask(engine, key, steps=4, sampler=sampler)
        first = await draw(request)
        assert np.array_equal(first, await draw(request)), sampler
        if sampler != "Euler (flow)":  # the default of most: a schedule of its own
            assert not np.array_equal(first, default), sampler
    assert np.array_equal(default, await draw(ask(engine, key, steps=4)))  # put back


@pytest.mark.parametrize("key", [key for key in FAMILY_KEYS if by_key(key).takes_guidance])
async def test_guidance_and_the_negative_prompt_reach_the_families_that_take_them(
    engine: LocalProvider, key: str
):
    async def draw(**options: object) -> np.ndarray:
        result = await engine.generate(ask(engine, key, **options), lambda _: None, CancelToken())
        return np.asarray(result.images[0].image, dtype=np.int16)

    strong = await draw(guidance=5.0)
    assert not np.array_equal(strong, await draw(guidance=2.0))
    if by_key(key).negative_prompt:
        assert not np.array_equal(strong, await draw(guidance=5.0, negative_prompt="blurry"))
