from __future__ import annotations

import asyncio
import io
import os
import re
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
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
    ProviderConfigError,
    ProviderError,
)
from engine.local import LocalProvider
from engine.local.families.unet import SD
from engine.local.pipelines import ModelLoadError
from engine.local.samplers import MIN_STEPS, SAMPLERS
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.precision import assert_same_picture

pytestmark = pytest.mark.timeout(300)
# How long a test waits on another thread before calling it a hang: a guard, not a measure.
HANG_GUARD = 60


def request(
    provider: LocalProvider, prompt: str = "a red boat", **options: object
) -> GenerationRequest:
    return provider.prepare(GenerationRequest(prompt, seed=7, **options))  # type: ignore[arg-type]


async def run(provider: LocalProvider, req: GenerationRequest, **kw) -> GenerationResult:
    return await provider.generate(
        req, kw.get("progress", lambda _: None), kw.get("cancel", CancelToken())
    )


def pixels(result: GenerationResult, index: int = 0) -> np.ndarray:
    return np.asarray(result.images[index].image, dtype=np.int16)


def png(size: tuple[int, int], colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


async def test_txt2img_gives_the_model_defaults_and_reports_seeds(local: LocalProvider):
    result = await run(local, request(local, count=2))
    assert [image.seed for image in result.images] == [7, 8]
    assert all(image.image.size == (64, 64) for image in result.images)
    assert result.model == "tiny"


async def test_the_same_seed_gives_the_same_image_and_another_seed_does_not(local):
    first = await run(local, request(local))
    again = await run(local, request(local))
    other = await run(local, request(local).replace(seed=8))
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


async def test_image_k_of_a_request_is_what_seed_plus_k_gives_alone(local):
    pair = await run(local, request(local, count=2))
    alone = await run(local, request(local).replace(seed=8))
    assert_same_picture(pixels(pair, 1), pixels(alone), local.dtype)


async def test_img2img_uses_the_input_and_strength(local):
    req = request(local, mode=Mode.IMG2IMG, init_image=png((80, 48)), strength=0.5)
    assert req.steps == 3 and req.size == (64, 64)
    result = await run(local, req)
    assert result.images[0].image.size == (64, 64)
    stronger = await run(local, req.replace(strength=0.9))
    other_input = await run(local, req.replace(init_image=png((80, 48), (20, 20, 220))))
    assert not np.array_equal(pixels(result), pixels(stronger))
    assert not np.array_equal(pixels(result), pixels(other_input))


async def test_upscale_doubles_the_size_with_a_low_strength_pass(local):
    req = request(local, mode=Mode.UPSCALE, init_image=png((64, 48)))
    assert req.size == (128, 96) and req.strength == 0.3 and req.steps >= 4
    result = await run(local, req)
    assert result.images[0].image.size == (128, 96)


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
async def test_every_sampler_runs_and_is_deterministic(local, sampler: str):
    req = request(local, sampler=sampler, steps=MIN_STEPS.get(sampler, 2))
    first, second = await run(local, req), await run(local, req)
    assert np.array_equal(pixels(first), pixels(second))


async def test_samplers_change_the_image_and_the_model_default_comes_back(local):
    euler = await run(local, request(local, sampler="Euler"))
    ddim = await run(local, request(local, sampler="DDIM"))
    default = await run(local, request(local))
    assert not np.array_equal(pixels(euler), pixels(ddim))
    assert np.array_equal(pixels(default), pixels(euler))  # the tiny model's own is Euler


async def test_sdxl_runs_through_the_same_path(local):
    result = await run(local, request(local, model="tiny-xl"))
    assert result.images[0].image.size == (64, 64)
    assert result.model == "tiny-xl"


async def test_a_single_file_checkpoint_loads_the_same_weights(local):
    folder = await run(local, request(local, model="tiny"))
    single = await run(local, request(local, model="tiny-file"))
    assert np.array_equal(pixels(folder), pixels(single))


async def test_loras_apply_for_one_job_and_never_leak(local):
    plain = await run(local, request(local))
    styled = await run(local, request(local, loras=(LoraRef("inkwash", 1.0),)))
    both = await run(
        local, request(local, loras=(LoraRef("inkwash", 1.0), LoraRef("pixelart", 0.5)))
    )
    after = await run(local, request(local))
    assert not np.array_equal(pixels(plain), pixels(styled))
    assert not np.array_equal(pixels(styled), pixels(both))
    assert np.array_equal(pixels(plain), pixels(after))


async def test_an_unknown_lora_names_close_matches(local):
    with pytest.raises(InvalidRequest, match="did you mean inkwash"):
        request(local, loras=(LoraRef("inkwsh"),))


async def test_compatible_requests_batch_into_one_call_with_equal_results(local):
    a = request(local, "a red boat", count=2)
    b = request(local, "a green hill").replace(seed=100)
    assert local.batch_key(a) == local.batch_key(b) != ""
    alone_a, alone_b = await run(local, a), await run(local, b)
    batched = await local.generate_batch(
        [a, b], [lambda _: None] * 2, [CancelToken(), CancelToken()]
    )
    assert all(isinstance(outcome, GenerationResult) for outcome in batched)
    for together, apart in ((batched[0], alone_a), (batched[1], alone_b)):
        assert [i.seed for i in together.images] == [i.seed for i in apart.images]
        for k in range(len(apart.images)):
            assert_same_picture(pixels(together, k), pixels(apart, k), local.dtype)


def test_different_settings_do_not_share_a_batch(local):
    base = request(local)
    for other in (
        request(local, steps=4),
        request(local, sampler="DDIM"),
        request(local, width=128),
        request(local, loras=(LoraRef("inkwash"),)),
        request(local, model="tiny-xl"),
    ):
        assert local.batch_key(other) != local.batch_key(base)
    assert (
        local.batch_key(request(local, mode=Mode.IMG2IMG, init_image=png((64, 64)), strength=0.5))
        == ""
    )


async def test_progress_reports_each_step_with_previews(make_local):
    provider = make_local(preview_every=2)
    await provider.start()
    reports: list[Progress] = []
    await run(provider, request(provider, steps=5), progress=reports.append)
    await provider.close()
    assert [p.step for p in reports] == [1, 2, 3, 4, 5]
    assert all(p.total == 5 for p in reports)
    previews = [p.step for p in reports if p.preview is not None]
    assert previews == [2, 4]
    preview = reports[1].preview
    assert preview is not None and preview.size == (32, 32)  # the tiny VAE downsamples by 2


async def test_cancel_stops_at_the_next_step_and_the_engine_goes_on(local):
    token = CancelToken()
    steps: list[int] = []

    def on_progress(progress: Progress) -> None:
        steps.append(progress.step)
        if progress.step == 2:
            token.cancel()

    with pytest.raises(GenerationCancelled):
        await run(local, request(local, steps=20), progress=on_progress, cancel=token)
    assert max(steps) == 2
    assert (await run(local, request(local))).images


async def test_a_timed_out_run_stops_its_thread_and_the_next_job_runs(local):
    loop = asyncio.get_running_loop()
    timed_out = threading.Event()
    steps: list[int] = []
    deadline = asyncio.timeout(None)

    def on_progress(progress: Progress) -> None:
        steps.append(progress.step)
        if progress.step == 2:  # the job's time is up while its thread is at step 2
            loop.call_soon_threadsafe(deadline.reschedule, loop.time())
            assert timed_out.wait(HANG_GUARD)

    with pytest.raises(TimeoutError):
        async with deadline:
            await run(local, request(local, steps=50), progress=on_progress)
    timed_out.set()
    assert (await run(local, request(local))).images
    assert steps == [1, 2]  # the one GPU thread stopped at its next step, then ran the next job


async def test_the_cache_evicts_the_least_recently_used_model(make_local):
    provider = make_local(max_loaded_models=1)
    await provider.start()
    assert provider.cache.loaded == ["tiny"]
    await run(provider, request(provider, model="tiny-xl"))
    assert provider.cache.loaded == ["tiny-xl"]
    await provider.close()


async def test_the_event_loop_keeps_running_during_a_generation(local):
    loop_thread = threading.get_ident()
    step_held, loop_ran = threading.Event(), threading.Event()
    step_threads: set[int] = set()

    def on_progress(progress: Progress) -> None:
        step_threads.add(threading.get_ident())
        if progress.step == 1:  # hold the generation until the loop has done other work
            step_held.set()
            assert loop_ran.wait(HANG_GUARD), "the event loop was stalled by the generation"

    async def other_work() -> None:
        while not step_held.is_set():  # noqa: ASYNC110 (a flag set on another thread)
            await asyncio.sleep(0.01)
        loop_ran.set()

    other = asyncio.create_task(other_work())
    result = await run(local, request(local, steps=3, count=2), progress=on_progress)
    await other
    assert len(result.images) == 2
    assert step_threads and loop_thread not in step_threads


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"width": 100}, "width", "multiple of 8"),
        ({"width": 512}, "width", "at most 256 for model tiny"),
        ({"model": "huge"}, "model", "tiny, tiny-xl, tiny-file"),
        ({"sampler": "Euler A"}, "sampler", "did you mean Euler a"),
        ({"sampler": "PLMS", "steps": 3}, "steps", "at least 4 with PLMS"),
        ({"steps": 501}, "steps", "1 to 500"),
    ],
)
def test_bad_options_are_refused_by_name(local_unstarted: LocalProvider, options, field, words):
    with pytest.raises(InvalidRequest) as caught:
        request(local_unstarted, **options)
    assert caught.value.field == field
    assert words in str(caught.value)


@pytest.fixture
def local_unstarted(make_local: Callable[..., LocalProvider]) -> LocalProvider:
    return make_local()


def test_bad_engine_settings_name_the_key(tiny):
    for options, key in (
        ({"device": "tpu"}, "device"),
        ({"models": {"x": {"source": "a.safetensors"}}}, "models.x"),
        ({"default_model": "nope"}, "models"),
        ({"preview_evry": 2}, "preview_evry"),
    ):
        with pytest.raises(ProviderConfigError) as caught:
            build_provider("local", ProviderConfig("local", options))
        assert caught.value.key == key


async def test_a_model_that_cannot_be_fetched_fails_start_up_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    provider = build_provider(
        "local",
        ProviderConfig("local", {"device": "cpu", "cache_dir": str(tmp_path)}),
    )
    with pytest.raises(
        ModelLoadError,
        match=r"Cannot load model sd-turbo: stabilityai/sd-turbo is not in the local cache and "
        r"HF_HUB_OFFLINE is set: run `python -m bot models pull`",
    ):
        await provider.start()
    await provider.close()


def test_the_example_config_builds_the_local_engine_and_documents_its_keys():
    from pathlib import Path

    from bot import settings
    from bot.providers import Providers
    from engine.local.options import LocalOptions, ModelSpec

    example = Path(__file__).parents[3] / "config.example.toml"
    loaded = settings.load(example, environ={})
    providers = Providers.build(loaded.settings, loaded.secrets)
    local = providers.get("local").provider
    assert isinstance(local, LocalProvider)
    assert local.default_model == "sd-turbo"
    assert local.model_spec("sd-turbo").steps == 1
    text = example.read_text()
    for key in [*LocalOptions.model_fields, *ModelSpec.model_fields]:
        assert f"{key} =" in text or f"[providers.local.{key}]" in text, key


EXAMPLE = Path(__file__).parents[3] / "config.example.toml"
CARDS = (8, 12, 16, 24, 48)  # GB: the VRAM tiers the presets cover


def example_presets() -> dict[str, str]:
    """Each commented-out ``[providers.local.models.NAME]`` block of the example config,
    uncommented: its ``# key = value`` lines up to the first line that is not one."""
    lines = EXAMPLE.read_text().splitlines()
    presets = {}
    for index, line in enumerate(lines):
        header = re.fullmatch(r"# \[providers\.local\.models\.([\w-]+)\]", line)
        if header is None:
            continue
        body = []
        for following in lines[index + 1 :]:
            if not re.match(r"# \w+ = ", following):
                break
            body.append(following.removeprefix("# "))
        presets[header.group(1)] = "\n".join(body)
    return presets


def test_the_example_config_has_a_fast_a_quality_and_a_preset_per_vram_tier():
    text = EXAMPLE.read_text()
    for heading in ("# A fast model:", "# A quality model:", *(f"# {gb} GB:" for gb in CARDS)):
        assert heading in text, heading
    assert "# Edits by instruction" in text  # and an edit model and an inpainter
    assert {"kontext", "fill", "sdxl-inpaint"} <= set(example_presets())
    assert len(example_presets()) == 2 + len(CARDS) + 3


@pytest.mark.parametrize("name", sorted(example_presets()))
def test_each_preset_of_the_example_config_is_a_valid_model_when_uncommented(name: str):
    from engine.local.families import by_key
    from engine.local.families.known import KNOWN
    from engine.local.options import LocalOptions, ModelSpec

    spec = ModelSpec(**tomllib.loads(example_presets()[name]))
    LocalOptions(models={name: spec})
    known = KNOWN[spec.source]  # /models names its family and licence before any download
    assert by_key(known.family).key == known.family
    assert known.licence


@pytest.mark.parametrize("flag_everything", [True, False])
async def test_the_safety_checker_flags_images_without_changing_them(
    make_local, tmp_path, flag_everything
):
    from tests.engine.local.tiny import build_safety_checker

    checker = build_safety_checker(tmp_path / "checker", flag_everything)
    plain = make_local()
    checked = make_local(safety_checker=str(checker))
    await plain.start()
    await checked.start()
    req = request(plain, count=2)
    unchecked, result = await run(plain, req), await run(checked, req)
    await plain.close()
    await checked.close()
    assert [image.flagged for image in result.images] == [flag_everything] * 2
    assert not any(image.flagged for image in unchecked.images)
    assert np.array_equal(pixels(result, 1), pixels(unchecked, 1))


async def test_a_safety_checker_that_cannot_load_stops_start_up(make_local, tmp_path):
    provider = make_local(safety_checker=str(tmp_path / "missing"))
    with pytest.raises(ModelLoadError, match="Cannot load the safety checker"):
        await provider.start()
    await provider.close()


async def test_a_dedicated_upscaler_makes_the_image_four_times_larger(make_local, tmp_path):
    from tests.engine.local.tiny import build_upscaler

    provider = make_local(upscaler=str(build_upscaler(tmp_path / "x4")))
    await provider.start()
    req = provider.prepare(
        GenerationRequest("a harbour", seed=3, mode=Mode.UPSCALE, init_image=png((32, 24)), steps=3)
    )
    assert req.size == (128, 96) and req.strength is None
    reports: list[Progress] = []
    result = await run(provider, req, progress=reports.append)
    again = await run(provider, req)
    token = CancelToken()
    token.cancel()
    with pytest.raises(GenerationCancelled):
        await run(provider, req, cancel=token)
    await provider.close()
    assert result.images[0].image.size == (128, 96)
    assert np.array_equal(pixels(result), pixels(again))
    assert [p.step for p in reports] == [1, 2, 3]


async def test_describe_uses_the_configured_captioner(make_local, tmp_path):
    from engine import EngineError
    from tests.engine.local.tiny import build_captioner

    provider = make_local(captioner=str(build_captioner(tmp_path / "blip")))
    assert provider.capabilities.describe
    await provider.start()
    image = Image.new("RGB", (50, 40), (10, 200, 30))
    caption = await provider.describe(image)
    assert caption and caption == await provider.describe(image)
    assert set(caption.split()) <= {"a", "photo", "of", "cat", "boat", "sea"}
    await provider.close()

    plain = make_local()
    assert not plain.capabilities.describe
    with pytest.raises(EngineError, match="cannot describe"):
        await plain.describe(image)


@pytest.mark.skipif(
    not os.environ.get("IMAGEBOT_SLOW_TESTS"),
    reason="compiling even the tiny UNet takes about a minute on two cores; "
    "set IMAGEBOT_SLOW_TESTS=1 to run it",
)
async def test_compile_warms_up_at_start_not_in_the_first_job(make_local):
    from torch._dynamo.utils import counters

    provider = make_local(compile=True)
    counters.clear()
    await provider.start()
    compiled_at_start = counters["stats"]["unique_graphs"]
    await run(provider, request(provider))
    await provider.close()
    assert compiled_at_start > 0
    assert counters["stats"]["unique_graphs"] == compiled_at_start  # nothing left to compile


async def test_the_tiny_decoder_draws_the_final_image_on_cpu_unless_told_not_to(tiny, tmp_path):
    from tests.engine.local.conftest import local_options
    from tests.engine.local.tiny import build_tiny_decoder

    decoder = build_tiny_decoder(tmp_path / "taesd")
    outputs = {}
    for mode in ("auto", "full", None):
        options = local_options(tiny)
        if mode is not None:
            options["models"]["tiny"] |= {"tiny_decoder": str(decoder), "decoder": mode}
        provider = build_provider("local", ProviderConfig("local", options))
        await provider.start()
        outputs[mode] = await run(provider, provider.prepare(GenerationRequest("a boat", seed=7)))
        await provider.close()
    assert outputs["auto"].images[0].image.size == (64, 64)
    assert not np.array_equal(pixels(outputs["auto"]), pixels(outputs[None]))
    assert np.array_equal(pixels(outputs["full"]), pixels(outputs[None]))


async def test_previews_come_from_the_tiny_decoder(tiny, tmp_path):
    from tests.engine.local.conftest import local_options
    from tests.engine.local.tiny import build_tiny_decoder

    options = local_options(tiny, preview_every=1)
    options["models"]["tiny"] |= {"tiny_decoder": str(build_tiny_decoder(tmp_path / "taesd"))}
    provider = build_provider("local", ProviderConfig("local", options))
    await provider.start()
    reports: list[Progress] = []
    await run(
        provider, provider.prepare(GenerationRequest("a boat", seed=7)), progress=reports.append
    )
    await provider.close()
    previews = [p.preview for p in reports if p.preview is not None]
    assert len(previews) == 2  # every step but the last
    assert previews[0].size == (64, 64)  # decoded, not the 32x32 latent projection


async def test_a_mismatched_tiny_decoder_stops_start_up(tiny, tmp_path):
    from tests.engine.local.conftest import local_options
    from tests.engine.local.tiny import build_tiny_decoder

    cases = [
        (build_tiny_decoder(tmp_path / "taesd16", latent_channels=16), "16-channel latents"),
        (build_tiny_decoder(tmp_path / "taesdxl"), "looks made for SDXL"),
        (tmp_path / "missing", "Cannot load the tiny decoder"),
    ]
    for source, words in cases:
        options = local_options(tiny)
        options["models"]["tiny"] |= {"tiny_decoder": str(source)}
        provider = build_provider("local", ProviderConfig("local", options))
        with pytest.raises(ModelLoadError, match=words):
            await provider.start()
        await provider.close()


def test_a_single_file_tiny_decoder_in_the_original_layout_loads(tmp_path):
    import torch
    from diffusers import AutoencoderTiny

    from engine.local.pipelines import load_tiny_decoder
    from tests.engine.local.tiny import write_tiny_decoder_file

    torch.manual_seed(0)
    AutoencoderTiny().save_pretrained(tmp_path / "taesd")  # the standard TAESD shape
    file = write_tiny_decoder_file(tmp_path / "taesd", tmp_path / "taesd_decoder.safetensors")

    class Vae:  # the parts of an SD 1.x VAE config the check reads
        class config:
            latent_channels = 4
            block_out_channels = (128, 256, 512, 512)

    from_folder = load_tiny_decoder(str(tmp_path / "taesd"), Vae, SD, None)
    from_file = load_tiny_decoder(str(file), Vae, SD, None)
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(from_folder.decode(latent).sample, from_file.decode(latent).sample)


def test_decoder_tiny_needs_a_tiny_decoder(tiny):
    from tests.engine.local.conftest import local_options

    options = local_options(tiny)
    options["models"]["tiny"] |= {"decoder": "tiny"}
    with pytest.raises(ProviderConfigError, match="needs tiny_decoder"):
        build_provider("local", ProviderConfig("local", options))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (torch.cuda.OutOfMemoryError("CUDA out of memory"), ProviderError),
        (RuntimeError("a kernel failed in step 2"), RuntimeError),
    ],
    ids=["out-of-memory", "error-inside-a-step"],
)
async def test_a_failure_inside_a_step_fails_the_job_and_the_engine_serves_the_next(
    local: LocalProvider, monkeypatch: pytest.MonkeyPatch, error: Exception, expected: type
):
    unet = local.cache.get(local.default_model).text2img.unet
    forward = unet.forward
    calls = 0

    def failing(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise error
        return forward(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", failing)
    with pytest.raises(expected):
        await run(local, request(local, steps=4))
    assert (await run(local, request(local))).images
