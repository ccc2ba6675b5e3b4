"""FLUX.2 [klein] follows reference images as its own input images beside the prompt, on its
tiny pipeline through the local engine; what it can't express (a weight, more images than it
takes, images its pipeline refuses) is refused up front by name."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from engine import (
    CancelToken,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    Mode,
    Progress,
    Reference,
    ReferenceKind,
)
from engine.local import LocalProvider
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.family_models import FamilyModels
from tests.engine.local.test_references import png

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.timeout(300)]

STYLE, SUBJECT = ReferenceKind.STYLE, ReferenceKind.SUBJECT


@pytest.fixture(scope="module")
def engine(family_models: FamilyModels, one_torch_thread: None) -> Iterator[LocalProvider]:
    options = family_models.options(["flux2-klein", "sd"], preview_every=1)
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    yield provider
    asyncio.run(provider.close())


def ask(*references: tuple[ReferenceKind, float], **more: Any) -> GenerationRequest:
    size = more.pop("size", (64, 64))
    return GenerationRequest(
        "a red bicycle",
        model="flux2-klein",
        seed=5,
        references=tuple(Reference(kind, weight) for kind, weight in references),
        reference_images=tuple(png(index, size) for index in range(len(references))),
        **more,
    )


def white() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buffer, "PNG")
    return buffer.getvalue()


async def draw(provider: LocalProvider, request: GenerationRequest, **more: Any) -> np.ndarray:
    result = await provider.generate(
        provider.prepare(request), more.get("progress", lambda _: None), CancelToken()
    )
    assert isinstance(result, GenerationResult)
    return np.asarray(result.images[0].image, dtype=np.int16)


async def test_klein_follows_its_references(engine: LocalProvider):
    plain = await draw(engine, ask())
    seen: list[Progress] = []
    one = await draw(engine, ask((STYLE, 1.0)), progress=seen.append)
    two = await draw(engine, ask((STYLE, 1.0), (SUBJECT, 1.0)))
    # the tiny random transformer attends little to its references: a few levels apart
    assert np.abs(one - plain).max() > 0 and np.abs(two - one).max() > 0
    assert (await draw(engine, ask((STYLE, 1.0)))).tolist() == one.tolist()
    assert (await draw(engine, ask())).tolist() == plain.tolist()
    assert seen and seen[-1].step == seen[-1].total


def test_klein_says_what_it_follows(engine: LocalProvider):
    info = engine.model_info("flux2-klein")
    assert info.references == {STYLE, SUBJECT} and info.max_references == 4
    assert engine.model_info("sd").references == frozenset()  # no adapter configured


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (ask((STYLE, 0.5)), "its weight can't be set, so leave it at 1"),
        (ask(*[(STYLE, 1.0)] * 5), "follows 4 reference images at most"),
        (ask((STYLE, 1.0), size=(48, 48)), "at least 64 px a side .* reference 1 is 48×48"),
        (ask((STYLE, 1.0), size=(600, 64)), "8 times as wide as high; reference 1 is 600×64"),
        (
            ask(
                (STYLE, 1.0),
                mode=Mode.EDIT,
                init_image=png(7, (64, 64)),
                extra_images=(png(8, (64, 64)),) * 3,
            ),
            "4 images at most, the images to edit and the references together; 5 were given",
        ),
        (
            ask((STYLE, 1.0), mode=Mode.INPAINT, init_image=png(7, (64, 64)), mask_image=white()),
            "when drawing from a prompt or editing",
        ),
    ],
)
def test_klein_refuses_what_it_cant_follow(
    engine: LocalProvider, request_: GenerationRequest, words: str
):
    with pytest.raises(InvalidRequest, match=words):
        engine.prepare(request_)


def test_a_family_without_references_names_klein(engine: LocalProvider):
    request = GenerationRequest(
        "x",
        model="sd",
        references=(Reference(STYLE, 1.0),),
        reference_images=(png(0, (64, 64)),),
    )
    with pytest.raises(InvalidRequest, match=r"follows no style references; flux2-klein can"):
        engine.prepare(request)


async def test_klein_blends_without_a_prompt(engine: LocalProvider):
    two = await draw(engine, ask((STYLE, 1.0), (STYLE, 1.0)).replace(prompt=""))
    three = await draw(engine, ask(*[(STYLE, 1.0)] * 3).replace(prompt=""))
    assert np.abs(three - two).max() > 0


async def test_klein_edits_beside_its_references(engine: LocalProvider):
    edit = {"mode": Mode.EDIT, "init_image": png(7, (64, 64))}
    plain = await draw(engine, ask(**edit))
    referenced = await draw(engine, ask((SUBJECT, 1.0), **edit))
    assert np.abs(referenced - plain).max() > 0
