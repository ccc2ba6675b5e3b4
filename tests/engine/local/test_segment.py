"""A region named in words, found by a tiny random CLIPSeg loaded through transformers' real
loader, on the engine's GPU thread; refused by name where no segmenter is configured."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants
from PIL import Image
from transformers import (
    CLIPSegConfig,
    CLIPSegForImageSegmentation,
    CLIPSegProcessor,
    ViTImageProcessor,
)

from engine import InvalidRequest
from engine.local import LocalProvider
from engine.local.hub import ModelLoadError
from engine.local.models import check_models
from engine.local.options import LocalOptions
from engine.local.segmenter import MAX_PHRASE, Segmenter
from engine.registry import ProviderConfig
from tests.engine.local.tiny import tokenizer
from tests.fakes.providers import fake_provider


def build_segmenter(folder: Path, bias: float | None = None) -> Path:
    """A tiny CLIPSeg over 32-pixel images; ``bias`` on its last layer makes every pixel match
    (large) or none (very negative)."""
    words = tokenizer(folder)
    torch.manual_seed(0)
    small = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4}
    config = CLIPSegConfig(
        text_config={
            **small,
            "num_hidden_layers": 3,
            "vocab_size": len(words),
            "bos_token_id": words.bos_token_id,
            "eos_token_id": words.eos_token_id,
            "pad_token_id": words.eos_token_id,
            "max_position_embeddings": 77,
        },
        vision_config={**small, "num_hidden_layers": 3, "image_size": 32, "patch_size": 8},
        projection_dim=32,
        reduce_dim=16,
        extract_layers=[1, 2],
        decoder_num_attention_heads=2,
        decoder_intermediate_size=37,
    )
    model = CLIPSegForImageSegmentation(config)
    if bias is not None:
        with torch.no_grad():
            model.decoder.transposed_convolution.bias.fill_(bias)
    model.save_pretrained(folder)
    CLIPSegProcessor(
        image_processor=ViTImageProcessor(size={"height": 32, "width": 32}),
        tokenizer=words,
    ).save_pretrained(folder)
    return folder


def png(size: tuple[int, int] = (50, 40)) -> bytes:
    """Sky over grass: a synthetic picture with two regions."""
    image = Image.new("RGB", size, (90, 160, 240))
    image.paste((40, 160, 50), (0, size[1] // 2, size[0], size[1]))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_segmenter(tmp_path_factory.mktemp("clipseg"))


async def test_a_named_region_is_a_binary_mask_of_the_image_size_from_the_gpu_thread(
    make_local: Callable[..., LocalProvider],
    segmenter: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = make_local(segmenter=str(segmenter))
    assert provider.capabilities.segment
    threads: list[str] = []
    segment = Segmenter.segment

    def recording(self: Segmenter, image: Image.Image, phrase: str) -> Image.Image:
        threads.append(threading.current_thread().name)
        return segment(self, image, phrase)

    monkeypatch.setattr(Segmenter, "segment", recording)
    await provider.start()
    assert provider._segmenter is None  # loaded when first used, not at start
    data = await provider.segment(png(), "  the   sky ")
    again = await provider.segment(png(), "the sky")
    await provider.close()
    with Image.open(io.BytesIO(data)) as mask:
        assert mask.format == "PNG" and mask.mode == "L" and mask.size == (50, 40)
        assert set(mask.tobytes()) == {0, 255}
    assert data == again
    assert threads == ["local-gpu_0"] * 2


@pytest.mark.parametrize(
    ("bias", "refusal"),
    [(-50.0, "nothing matched 'the sky'"), (50.0, "all of the image matched 'the sky'")],
)
async def test_nothing_or_everything_matching_is_refused(
    make_local: Callable[..., LocalProvider], tmp_path: Path, bias: float, refusal: str
) -> None:
    provider = make_local(segmenter=str(build_segmenter(tmp_path / "clipseg", bias)))
    with pytest.raises(InvalidRequest, match=refusal):
        await provider.segment(png(), "the sky")
    await provider.close()


@pytest.mark.parametrize(
    ("image", "phrase", "refusal"),
    [
        (b"not an image", "the sky", "not an image"),
        (png()[:50], "the sky", "not an image"),
        (png(), " \n ", "name the part"),
        (png(), "x" * (MAX_PHRASE + 1), f"{MAX_PHRASE} characters"),
    ],
)
async def test_hostile_images_and_phrases_are_refused(
    make_local: Callable[..., LocalProvider],
    segmenter: Path,
    image: bytes,
    phrase: str,
    refusal: str,
) -> None:
    provider = make_local(segmenter=str(segmenter))
    with pytest.raises(InvalidRequest, match=refusal):
        await provider.segment(image, phrase)
    await provider.close()


async def test_providers_without_a_segmenter_refuse_by_name(
    make_local: Callable[..., LocalProvider],
) -> None:
    plain = make_local()
    assert not plain.capabilities.segment
    with pytest.raises(InvalidRequest, match="can't find a region by name"):
        await plain.segment(png(), "the sky")
    await plain.close()
    fake = fake_provider(ProviderConfig("fake", {}))
    assert not fake.capabilities.segment
    with pytest.raises(InvalidRequest, match="fake provider can't find a region by name"):
        await fake.segment(png(), "the sky")


async def test_a_segmenter_that_cannot_load_fails_when_first_used(
    make_local: Callable[..., LocalProvider], tmp_path: Path
) -> None:
    provider = make_local(segmenter=str(tmp_path / "missing"))
    with pytest.raises(ModelLoadError, match="Cannot load the segmenter"):
        await provider.segment(png(), "the sky")
    await provider.close()


async def test_a_segmenter_repo_is_downloaded_at_start(
    make_local: Callable[..., LocalProvider], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    provider = make_local(segmenter="someone/clipseg", cache_dir=str(tmp_path / "hub"))
    with pytest.raises(
        ModelLoadError, match=r"Cannot load the segmenter someone/clipseg: .*HF_HUB"
    ):
        await provider.start()
    await provider.close()


def test_check_and_pull_list_the_segmenter(segmenter: Path) -> None:
    options = LocalOptions(segmenter=str(segmenter))
    states = {state.name: state for state in check_models(options, online=False)}
    assert states["(segmenter)"].source == str(segmenter)
    assert states["(segmenter)"].present and states["(segmenter)"].usable
