"""The AI Horde provider against the fake Horde: the documented flow, its faults, the key
kept to the Horde's own host, cancel and withdrawal, progress from its queue."""

from __future__ import annotations

import base64
import io
import logging
import tomllib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.scale.relay import progress_from
from engine import (
    CancelToken,
    GenerationRequest,
    InvalidRequest,
    LoraRef,
    Mode,
    Progress,
    ProviderConfigError,
)
from engine.registry import ProviderConfig, build_provider
from engine.remote.horde import HordeProvider
from engine.remote.horde.answers import seed_of
from engine.remote.horde.options import R2_HOST
from tests.engine.remote.fake_horde import ANONYMOUS, KEY, STORAGE, FakeHorde
from tests.fakes.http_api import png


def options_for(horde: FakeHorde, **options: Any) -> dict[str, Any]:
    return {
        "base_url": horde.base_url,
        "image_hosts": [STORAGE],
        "image_hosts_http": [STORAGE],
        "image_hosts_private": [STORAGE],
        "min_poll_seconds": 0.01,
        "max_poll_seconds": 0.05,
        "contact": "https://example.org/owner",
        **options,
    }


async def started(horde: FakeHorde, key: str | None = KEY, **options: Any) -> HordeProvider:
    built = build_provider("horde", ProviderConfig("horde", options_for(horde, **options), key))
    assert isinstance(built, HordeProvider)
    await built.start()
    return built


async def run(
    p: HordeProvider, request: GenerationRequest, cancel: CancelToken | None = None
) -> tuple[Any, list[Progress]]:
    reports: list[Progress] = []
    try:
        result = await p.generate(p.prepare(request), reports.append, cancel or CancelToken())
    finally:
        await p.close()
    return result, reports


async def test_a_request_follows_the_api_and_shows_the_hordes_queue(horde: FakeHorde):
    horde.script.waiting_polls = 2
    p = await started(horde)
    request = GenerationRequest(
        "a lighthouse",
        model="Deliberate",
        negative_prompt="fog",
        seed=7,
        count=2,
        width=512,
        height=768,
        steps=20,
        guidance=6.0,
        sampler="k_euler",
    )
    result, reports = await run(p, request)
    submitted = horde.submitted[0]
    assert submitted.body == {
        "prompt": "a lighthouse ### fog",
        "params": {
            "sampler_name": "k_euler",
            "cfg_scale": 6.0,
            "height": 768,
            "width": 512,
            "steps": 20,
            "n": 2,
            "karras": True,
            "seed": "7",
            "seed_variation": 1,
        },
        "nsfw": False,
        "censor_nsfw": True,
        "trusted_workers": False,
        "slow_workers": True,
        "extra_slow_workers": False,
        "models": ["Deliberate"],
        "r2": True,
        "shared": False,
        "replacement_filter": True,
        "allow_downgrade": False,
    }
    assert [image.seed for image in result.images] == [7, 8]
    assert result.images[0].image.size == (64, 64) and result.model == "Deliberate"
    assert [r.message for r in reports] == [
        "waiting in the AI Horde's queue at position 2",
        "waiting in the AI Horde's queue at position 1",
        "on the AI Horde: 0 of 2 done, 2 being made",
    ]
    assert reports[0].eta == 40.0 and reports[0].total == 0
    assert horde.api.calls(f"/api/v2/generate/status/{submitted.id}")[0].method == "GET"
    assert submitted.statuses == 1 and not horde.deleted  # status once: it allows 10 a minute
    assert p.kudos_spent == submitted.kudos > 0
    assert f"{submitted.kudos:.0f} kudos spent since start over 1 request" in str(p.owner_status())


async def test_the_key_and_client_agent_go_to_the_horde_and_never_to_storage(horde: FakeHorde):
    p = await started(horde)
    await run(p, GenerationRequest("a cat", seed=1, count=2))
    for call in horde.api.requests:
        assert call.headers["apikey"] == KEY
        assert call.headers["Client-Agent"].startswith("imagebot:")
        assert call.headers["Client-Agent"].endswith(":https://example.org/owner")
    downloads = horde.storage.requests
    assert len(downloads) == 2
    for call in downloads:
        assert "apikey" not in {name.lower() for name in call.headers}
        assert not any(KEY in value for value in call.headers.values())


async def test_nsfw_and_censoring_follow_the_channels_policy(horde: FakeHorde):
    p = await started(horde)
    await run(p, GenerationRequest("a figure study", nsfw_allowed=True))
    assert horde.submitted[0].body["nsfw"] is True
    assert horde.submitted[0].body["censor_nsfw"] is False


async def test_without_a_key_the_anonymous_key_is_used_and_said(horde: FakeHorde, caplog):
    with caplog.at_level(logging.WARNING):
        p = await started(horde, key=None)
    assert "anonymous key" in caplog.text
    await run(p, GenerationRequest("a cat"))
    assert horde.submitted[0].key == ANONYMOUS
    assert "anonymous key: lowest priority" in str(p.owner_status())


async def test_models_are_the_image_models_with_workers_busiest_first(horde: FakeHorde):
    p = await started(horde)
    assert p.capabilities.models == ("AlbedoBase XL (SDXL)", "Deliberate", "Deliberate Inpainting")
    assert p.default_model == "AlbedoBase XL (SDXL)"
    assert horde.api.calls("/api/v2/status/models")[0].query == {"type": "image"}
    await p.close()
    p = await started(horde, models=["Deliberate"])
    assert p.capabilities.models == ("Deliberate",)
    with pytest.raises(InvalidRequest):
        p.prepare(GenerationRequest("x", model="AlbedoBase XL (SDXL)"))
    await p.close()


async def test_the_owners_default_model_is_offered_first(horde: FakeHorde):
    p = await started(horde, default_model="Deliberate")
    assert p.default_model == "Deliberate"
    assert p.prepare(GenerationRequest("x")).model == "Deliberate"
    await p.close()
    with pytest.raises(ProviderConfigError, match="default_model"):
        await started(horde, models=["Deliberate"], default_model="Elsewhere")


async def test_a_horde_that_cannot_list_models_is_marked_unavailable(horde: FakeHorde):
    horde.api.routes.pop(("GET", "/api/v2/status/models"))
    p = await started(horde, max_retries=0)
    assert p.unavailable is not None and "404" in p.unavailable
    await p.close()


async def test_img2img_sends_a_fresh_webp_and_its_strength(horde: FakeHorde):
    p = await started(horde)
    request = GenerationRequest(
        "a cat", mode=Mode.IMG2IMG, init_image=png(size=(640, 512)), strength=0.4
    )
    await run(p, request)
    body = horde.submitted[0].body
    assert body["source_processing"] == "img2img"
    assert body["params"]["denoising_strength"] == 0.4
    assert (body["params"]["width"], body["params"]["height"]) == (640, 512)
    with Image.open(io.BytesIO(base64.b64decode(body["source_image"]))) as sent:
        assert sent.format == "WEBP" and sent.size == (640, 512)


async def test_an_inpaint_sends_a_mask_white_where_the_model_paints(horde: FakeHorde):
    mask = Image.new("L", (128, 64), 0)
    mask.paste(255, (0, 0, 64, 64))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    p = await started(horde)
    request = GenerationRequest(
        "a window",
        model="Deliberate Inpainting",
        mode=Mode.INPAINT,
        init_image=png(size=(128, 64)),
        mask_image=buffer.getvalue(),
    )
    await run(p, request)
    body = horde.submitted[0].body
    assert body["source_processing"] == "inpainting"
    assert body["params"]["denoising_strength"] == 1.0
    with Image.open(io.BytesIO(base64.b64decode(body["source_mask"]))) as sent:
        assert sent.format == "WEBP" and sent.size == (128, 64)
        grey = sent.convert("L")
        assert grey.getpixel((10, 10)) == 255 and grey.getpixel((100, 10)) == 0


async def test_only_inpainting_models_repaint_and_the_refusal_names_them(horde: FakeHorde):
    p = await started(horde)
    assert p.model_info("Deliberate Inpainting").inpaint
    assert not p.model_info("Deliberate").outpaint
    request = GenerationRequest(
        "x", model="Deliberate", mode=Mode.OUTPAINT, init_image=png(), mask_image=png()
    )
    with pytest.raises(InvalidRequest) as caught:
        p.prepare(request)
    await p.close()
    assert caught.value.field == "mode" and "Deliberate Inpainting" in caught.value.allowed


async def test_listed_loras_are_sent_with_their_strength(horde: FakeHorde):
    p = await started(horde, loras=["GlowingRunesAI"])
    await run(p, GenerationRequest("runes", loras=(LoraRef("GlowingRunesAI", 0.8),)))
    assert horde.submitted[0].body["params"]["loras"] == [{"name": "GlowingRunesAI", "model": 0.8}]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"prompt": "a cat ### no dogs"}, "prompt"),
        ({"negative_prompt": "dogs ### cats"}, "negative"),
        ({"loras": (LoraRef("Unlisted"),)}, "loras"),
        ({"width": 1000}, "width"),
        ({"width": 2048}, "width"),
        ({"steps": 60}, "steps"),
        ({"count": 5}, "count"),
        ({"sampler": "Euler a"}, "sampler"),
        ({"guidance": 101.0}, "guidance"),
    ],
)
async def test_what_the_horde_cannot_take_is_refused_before_sending(
    horde: FakeHorde, options: dict[str, Any], field: str
):
    p = await started(horde)
    request = GenerationRequest(**{"prompt": "a cat", **options})
    with pytest.raises(InvalidRequest) as caught:
        p.prepare(request)
    await p.close()
    assert caught.value.field == field
    assert horde.submitted == []


def test_the_hordes_wait_survives_the_trip_from_a_gpu_worker():
    assert progress_from({"step": 0, "total": 0, "message": "m", "eta": 12.5}).eta == 12.5
    assert progress_from({"step": 1, "total": 4}).eta is None
    assert progress_from({"step": 1, "total": 4, "eta": "soon"}).eta is None


def test_the_commented_example_in_the_config_builds_with_no_key():
    text = (Path(__file__).parents[3] / "config.example.toml").read_text()
    block = text[text.index("# [providers.horde]") :].splitlines()
    block = block[: block.index("#")] if "#" in block else block  # up to the next example
    uncommented = "\n".join(line.removeprefix("# ") for line in block if line.startswith("# "))
    options = tomllib.loads(uncommented)["providers"]["horde"]
    p = build_provider(options.pop("kind"), ProviderConfig("horde", options))
    assert isinstance(p, HordeProvider) and p.anonymous
    assert p.options.image_host_rules.permits(R2_HOST)


async def test_model_names_with_invisible_or_bidirectional_marks_are_left_out(horde: FakeHorde):
    spoofs = ["Deliberate\u202e", "Delib\u200berate", "Deliberate\u2028@everyone"]
    horde.models = [
        *horde.models,
        *({"name": name, "count": 99, "type": "image"} for name in spoofs),
    ]
    p = await started(horde)
    await p.close()
    assert p.capabilities.models == ("AlbedoBase XL (SDXL)", "Deliberate", "Deliberate Inpainting")


@pytest.mark.parametrize("seed", ["²", "9" * 5000, "-1", "12a"])
def test_a_seed_the_bot_cannot_read_falls_back_to_the_requests(seed: str):
    request = GenerationRequest("x", seed=7, count=2)
    assert seed_of({"seed": seed}, request, 1) == 8
