"""Reference images on the local engine: tiny random IP-Adapters loaded through diffusers' own
``load_ip_adapter`` into tiny SD 1.x and SDXL pipelines, for the call and out again after it;
the refusals of references a model can't follow."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from huggingface_hub import constants
from PIL import Image

from engine import (
    CancelToken,
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    LoraRef,
    Mode,
    Progress,
    ProviderError,
    Reference,
    ReferenceKind,
)
from engine.errors import ProviderConfigError
from engine.local import LocalProvider
from engine.local.options import parse_local_options
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.conftest import TinyModels, local_options
from tests.engine.local.tiny_adapter import build_ip_adapter
from tests.engine.local.tiny_inpaint import left_half, picture
from tests.engine.local.tiny_inpaint import png as to_png
from tests.fakes.hub import serve_hub

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("one_torch_thread")]

STYLE, SUBJECT = ReferenceKind.STYLE, ReferenceKind.SUBJECT


@dataclass(frozen=True)
class Adapters:
    sd: Path
    sdxl: Path


@pytest.fixture(scope="module")
def adapters(tiny: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Adapters:
    root = tmp_path_factory.mktemp("adapters")
    return Adapters(
        build_ip_adapter(tiny.sd, root / "sd"), build_ip_adapter(tiny.sdxl, root / "xl")
    )


def adapter(family: str, folder: Path, **more: Any) -> dict[str, Any]:
    return {
        "family": family,
        "source": str(folder),
        "subfolder": "models",
        "weight_name": "ip-adapter.safetensors",
        **more,
    }


def configured(adapters: Adapters) -> dict[str, Any]:
    return {
        "sd-style": adapter("sd", adapters.sd),
        # InstantStyle's style-only layer, as the tiny UNet's one attention block up
        "xl-style": adapter("sdxl", adapters.sdxl, blocks={"up": {"block_0": [0.0, 1.0, 0.0]}}),
        "xl-subject": adapter("sdxl", adapters.sdxl, kind="subject", licence="apache-2.0"),
    }


def make(tiny: TinyModels, adapters: Adapters, **more: Any) -> LocalProvider:
    options = local_options(tiny, adapters=configured(adapters), **more)
    options["models"]["sana"] = {"source": str(tiny.sd), "family": "sana"}  # never loaded
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    return provider


@pytest.fixture
async def engine(tiny: TinyModels, adapters: Adapters) -> AsyncIterator[LocalProvider]:
    provider = make(tiny, adapters)
    yield provider
    await provider.close()


def png(seed: int, size: tuple[int, int] = (48, 40)) -> bytes:
    values = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "PNG")
    return buffer.getvalue()


def ask(model: str, *references: tuple[ReferenceKind, float], **more: Any) -> GenerationRequest:
    return GenerationRequest(
        "a lighthouse",
        model=model,
        seed=3,
        references=tuple(Reference(kind, weight) for kind, weight in references),
        reference_images=tuple(png(index) for index in range(len(references))),
        **more,
    )


async def draw(provider: LocalProvider, request: GenerationRequest, **more: Any) -> np.ndarray:
    result = await provider.generate(
        provider.prepare(request), more.get("progress", lambda _: None), CancelToken()
    )
    assert isinstance(result, GenerationResult)
    return np.asarray(result.images[0].image, dtype=np.int16)


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
async def test_a_reference_changes_the_picture_and_leaves_no_trace(
    engine: LocalProvider, model: str
):
    plain = await draw(engine, ask(model))  # before any adapter was loaded
    pipe = engine.cache.get(model).pipeline(Mode.TXT2IMG)
    processors = dict(pipe.unet.attn_processors)
    referenced = await draw(engine, ask(model, (STYLE, 1.0)))
    assert np.abs(referenced - plain).max() > 10
    assert (await draw(engine, ask(model))).tolist() == plain.tolist()
    assert pipe.unet.attn_processors == processors
    assert pipe.unet.encoder_hid_proj is None and pipe.image_encoder is None


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
async def test_weight_zero_follows_nothing_and_weight_one_differs(
    engine: LocalProvider, model: str
):
    plain = await draw(engine, ask(model))
    zero = await draw(engine, ask(model, (STYLE, 0.0)))
    one = await draw(engine, ask(model, (STYLE, 1.0)))
    two = await draw(engine, ask(model, (STYLE, 2.0)))
    assert zero.tolist() == plain.tolist()
    assert np.abs(one - zero).max() > 10 and np.abs(two - one).max() > 10


async def test_the_same_reference_draws_the_same_picture(engine: LocalProvider):
    first = await draw(engine, ask("tiny", (STYLE, 1.0)))
    assert (await draw(engine, ask("tiny", (STYLE, 1.0)))).tolist() == first.tolist()


async def test_several_references_each_count(engine: LocalProvider):
    one = await draw(engine, ask("tiny", (STYLE, 1.0)))
    blend = await draw(engine, ask("tiny", *[(STYLE, 1.0)] * 5))  # a /blend: one adapter
    weighted = await draw(engine, ask("tiny", (STYLE, 1.0), (STYLE, 0.5), (STYLE, 1.5)))
    assert np.abs(blend - one).max() > 10 and np.abs(weighted - blend).max() > 10


async def test_style_and_subject_on_sdxl(engine: LocalProvider):
    style = await draw(engine, ask("tiny-xl", (STYLE, 1.0)))
    subject = await draw(engine, ask("tiny-xl", (SUBJECT, 1.0)))
    both = await draw(engine, ask("tiny-xl", (STYLE, 1.0), (SUBJECT, 1.0)))
    assert np.abs(style - subject).max() > 10 and np.abs(both - subject).max() > 10


async def test_img2img_follows_a_reference(engine: LocalProvider):
    start = {"mode": Mode.IMG2IMG, "init_image": png(9, (64, 64)), "strength": 0.8}
    plain = await draw(engine, ask("tiny", **start))
    referenced = await draw(engine, ask("tiny", (STYLE, 1.0), **start))
    assert np.abs(referenced - plain).max() > 10


async def test_previews_and_cancel_with_a_reference(tiny: TinyModels, adapters: Adapters) -> None:
    provider = make(tiny, adapters, preview_every=1)
    seen: list[Progress] = []
    await draw(provider, ask("tiny", (STYLE, 1.0)), progress=seen.append)
    assert any(step.preview is not None for step in seen)
    token = CancelToken()

    def cancel(step: Progress) -> None:
        token.cancel()

    with pytest.raises(GenerationCancelled):
        await provider.generate(provider.prepare(ask("tiny", (STYLE, 1.0))), cancel, token)
    pipe = provider.cache.get("tiny").pipeline(Mode.TXT2IMG)
    assert pipe.unet.encoder_hid_proj is None and pipe.image_encoder is None
    await provider.close()


async def test_a_broken_adapter_is_named_and_leaves_the_model_clean(
    tiny: TinyModels, adapters: Adapters, tmp_path: Path
):
    options = local_options(tiny, adapters={"sd-style": adapter("sd", tmp_path)})
    (tmp_path / "models" / "image_encoder").mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        source = adapters.sd / "models" / "image_encoder" / name
        (tmp_path / "models" / "image_encoder" / name).write_bytes(source.read_bytes())
    (tmp_path / "models" / "ip-adapter.safetensors").write_bytes(b"not a safetensors file")
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    plain = await draw(provider, ask("tiny"))
    with pytest.raises(ProviderError, match=r"reference adapter for tiny"):
        await draw(provider, ask("tiny", (STYLE, 1.0)))
    assert (await draw(provider, ask("tiny"))).tolist() == plain.tolist()
    await provider.close()


def test_model_info_says_which_references_a_model_follows(engine: LocalProvider):
    assert engine.model_info("tiny").references == {STYLE}
    assert engine.model_info("tiny-xl").references == {STYLE, SUBJECT}
    assert engine.model_info("tiny-xl").max_references == 5
    assert engine.model_info("sana").references == frozenset()
    assert engine.model_info("sana").max_references == 0


def test_jobs_with_references_are_not_batched(engine: LocalProvider):
    assert engine.batch_key(engine.prepare(ask("tiny", (STYLE, 1.0)))) == ""
    assert engine.batch_key(engine.prepare(ask("tiny"))) != ""


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (ask("tiny", (SUBJECT, 1.0)), "tiny .* follows no subject references; tiny-xl can"),
        (ask("sana", (STYLE, 1.0)), r"sana \(Sana\) follows no style references; tiny, tiny-xl"),
        (ask("tiny", (STYLE, 2.5)), "weight is 0 to 2"),
        (ask("tiny", *[(STYLE, 1.0)] * 6), "5 reference images at most"),
    ],
)
def test_references_a_model_cant_follow_are_refused_by_name(
    engine: LocalProvider, request_: GenerationRequest, words: str
):
    with pytest.raises(InvalidRequest, match=words):
        engine.prepare(request_)


def test_references_without_their_images_are_refused(engine: LocalProvider):
    request = ask("tiny", (STYLE, 1.0)).replace(reference_images=())
    with pytest.raises(InvalidRequest, match="1 references came with 0 images"):
        engine.prepare(request)


def test_a_compiled_model_refuses_references(tiny: TinyModels, adapters: Adapters):
    options = local_options(tiny, adapters=configured(adapters))
    options["models"]["tiny"]["compile"] = True
    provider = build_provider("local", ProviderConfig("local", options))
    with pytest.raises(InvalidRequest, match="compiled"):
        provider.prepare(ask("tiny", (STYLE, 1.0)))
    assert provider.model_info("tiny").references == frozenset()


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"family": "sd3"}, "takes no IP-Adapter here"),
        ({"family": "flux2-klein"}, "follows reference images itself"),
        ({"family": "nope"}, "family 'nope' is not one of"),
        ({"weight_name": "ip.pt"}, "not a .safetensors or .bin file"),
        ({"weight_name": "models/ip.bin"}, "put its folder in subfolder"),
        ({"subfolder": "../elsewhere"}, "leaves the adapter's source"),
        ({"blocks": {"side": {}}}, "not down, mid or up"),
        ({"blocks": {"up": {"block_0": [0.0, 3.0]}}}, "scales from 0 to 2"),
    ],
)
def test_adapter_settings_are_checked(entry: dict[str, Any], words: str):
    settings = {"adapters": {"a": {**adapter("sd", Path("/x")), **entry}}}
    with pytest.raises(ProviderConfigError, match=words):
        parse_local_options(settings)


def test_one_adapter_per_kind_and_family():
    settings = {"adapters": {"a": adapter("sd", Path("/x")), "b": adapter("sd", Path("/y"))}}
    with pytest.raises(ProviderConfigError, match="a and b both serve style"):
        parse_local_options(settings)


async def test_an_image_encoder_from_a_folder_of_its_own(
    tiny: TinyModels, adapters: Adapters, tmp_path: Path
):
    """As FLUX.1's IP-Adapter is published: the weights in one repo, the CLIP encoder in
    another."""
    (tmp_path / "ip").mkdir()
    weights = adapters.sd / "models" / "ip-adapter.safetensors"
    (tmp_path / "ip" / "ip-adapter.safetensors").write_bytes(weights.read_bytes())
    entry = {
        "family": "sd",
        "source": str(tmp_path / "ip"),
        "weight_name": "ip-adapter.safetensors",
        "image_encoder_source": str(adapters.sd / "models" / "image_encoder"),
    }
    apart = build_provider(
        "local", ProviderConfig("local", local_options(tiny, adapters={"a": entry}))
    )
    together = make(tiny, adapters)
    assert isinstance(apart, LocalProvider) and isinstance(together, LocalProvider)
    request = ask("tiny", (STYLE, 1.0))
    assert (await draw(apart, request)).tolist() == (await draw(together, request)).tolist()
    await apart.close()
    await together.close()


async def test_a_blend_without_a_prompt(engine: LocalProvider):
    """/blend: two to five style references at weight 1 and no prompt."""
    two = await draw(engine, ask("tiny-xl", (STYLE, 1.0), (STYLE, 1.0)).replace(prompt=""))
    three = await draw(engine, ask("tiny-xl", *[(STYLE, 1.0)] * 3).replace(prompt=""))
    assert np.abs(three - two).max() > 10


async def test_an_inpaint_follows_a_reference_and_keeps_the_rest(engine: LocalProvider):
    image = picture(64, 64)
    repaint = {
        "mode": Mode.INPAINT,
        "init_image": to_png(image),
        "mask_image": to_png(left_half(64, 64)),
        "strength": 1.0,
    }
    plain = await draw(engine, ask("tiny-xl", **repaint))
    referenced = await draw(engine, ask("tiny-xl", (SUBJECT, 1.0), **repaint))
    assert np.abs(referenced - plain).max() > 10
    kept = np.asarray(image, dtype=np.int16)[:, 32:]
    assert referenced[:, 32:].tolist() == kept.tolist()


async def test_a_lora_and_a_reference_together_leave_no_trace(engine: LocalProvider):
    plain = await draw(engine, ask("tiny"))
    lora = (LoraRef("inkwash", 1.0),)
    with_lora = await draw(engine, ask("tiny", loras=lora))
    both = await draw(engine, ask("tiny", (STYLE, 1.0), loras=lora))
    assert np.abs(both - with_lora).max() > 10
    assert (await draw(engine, ask("tiny"))).tolist() == plain.tolist()


async def test_an_adapter_with_missing_files_is_warned_about_at_start(
    tiny: TinyModels, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    options = local_options(tiny, adapters={"sd-style": adapter("sd", tmp_path)})
    provider = build_provider("local", ProviderConfig("local", options))
    with caplog.at_level(logging.WARNING):
        await provider.start()
    await provider.close()
    weights = tmp_path / "models" / "ip-adapter.safetensors"
    encoder = tmp_path / "models" / "image_encoder" / "config.json"
    assert f"Reference adapter sd-style is unusable: {weights}, {encoder} not found" in caplog.text


async def test_an_adapter_from_a_hub_repo_fetches_only_its_files(
    tiny: TinyModels, adapters: Adapters, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    files = {
        str(path.relative_to(adapters.sd)): path.read_bytes()
        for path in adapters.sd.rglob("*")
        if path.is_file()
    }
    files["other/ip-adapter_plus.safetensors"] = b"never fetched"
    entry = {**adapter("sd", Path("x")), "source": "someone/ip-adapter"}
    options = local_options(tiny, adapters={"a": entry}, cache_dir=str(tmp_path / "hub"))
    from_hub = build_provider("local", ProviderConfig("local", options))
    from_folder = make(tiny, adapters)
    assert isinstance(from_hub, LocalProvider) and isinstance(from_folder, LocalProvider)
    request = ask("tiny", (STYLE, 1.0))
    with serve_hub({"someone/ip-adapter": files}) as (endpoint, hub):
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", endpoint)
        template = f"{endpoint}/{{repo_id}}/resolve/{{revision}}/{{filename}}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        drawn = await draw(from_hub, request)
    assert drawn.tolist() == (await draw(from_folder, request)).tolist()
    assert not [path for path in hub.requests if "other/" in path]
    await from_hub.close()
    await from_folder.close()
