from __future__ import annotations

import asyncio
import base64

import pytest
from aiohttp import web
from PIL import Image

from engine import (
    CancelToken,
    GenerationCancelled,
    GenerationRequest,
    InvalidRequest,
    LoraRef,
    Mode,
    Progress,
    ProviderRejected,
)
from engine.registry import ProviderConfig, build_provider
from engine.remote.a1111 import A1111Provider
from tests.fakes.http_api import FakeApi, json_answer, png, png_b64

PASSWORD = "forge-password-789"
AUTH = "Basic " + base64.b64encode(f"owner:{PASSWORD}".encode()).decode()


class Forge:
    """A small web UI: generation takes ``seconds``, progress and interrupt work meanwhile."""

    def __init__(self, api: FakeApi, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.step = 0
        self.interrupted = asyncio.Event()
        for path, data in (
            (
                "/sdapi/v1/sd-models",
                [
                    {
                        "title": "dreamshaper_8.safetensors [879db523c3]",
                        "model_name": "dreamshaper_8",
                    }
                ],
            ),
            ("/sdapi/v1/samplers", [{"name": "Euler a"}, {"name": "DPM++ 2M"}]),
            ("/sdapi/v1/loras", [{"name": "ink", "path": "/loras/ink.safetensors"}]),
        ):
            api.route("GET", path, self._static(data))
        api.route("POST", "/sdapi/v1/txt2img", self.generate)
        api.route("POST", "/sdapi/v1/img2img", self.generate)
        api.route("GET", "/sdapi/v1/progress", self.progress)
        api.route("POST", "/sdapi/v1/interrupt", self.interrupt)
        api.route("POST", "/sdapi/v1/extra-single-image", self.upscale)
        api.route("POST", "/sdapi/v1/interrogate", self.interrogate)

    def _static(self, data):
        async def handler(request: web.Request, body) -> web.Response:
            if request.headers.get("Authorization") != AUTH:
                return json_answer({"detail": "Not authenticated"}, 401)
            return json_answer(data)

        return handler

    async def generate(self, request: web.Request, body) -> web.Response:
        if request.headers.get("Authorization") != AUTH:
            return json_answer({"detail": "Not authenticated"}, 401)
        steps = 10
        for self.step in range(1, steps + 1):
            if self.interrupted.is_set():
                break
            await asyncio.sleep(self.seconds / steps)
        images = [
            png_b64((body["seed"] + k, 0, 0), (body["width"], body["height"]))
            for k in range(body["batch_size"])
        ]
        info = {"all_seeds": [body["seed"] + k for k in range(body["batch_size"])]}
        return json_answer({"images": images, "parameters": body, "info": str(info)})

    async def progress(self, request: web.Request, body) -> web.Response:
        return json_answer(
            {
                "progress": self.step / 10,
                "state": {"sampling_step": self.step, "sampling_steps": 10},
                "current_image": png_b64((9, 9, 9), (8, 8)),
            }
        )

    async def interrupt(self, request: web.Request, body) -> web.Response:
        self.interrupted.set()
        return json_answer({})

    async def upscale(self, request: web.Request, body) -> web.Response:
        with Image.open(__import__("io").BytesIO(base64.b64decode(body["image"]))) as image:
            size = (
                int(image.width * body["upscaling_resize"]),
                int(image.height * body["upscaling_resize"]),
            )
        return json_answer({"image": png_b64((1, 1, 1), size), "html_info": ""})

    async def interrogate(self, request: web.Request, body) -> web.Response:
        return json_answer({"caption": f"a lighthouse ({body['model']})"})


async def provider(api: FakeApi, password: str | None = PASSWORD, **options) -> A1111Provider:
    built = build_provider(
        "a1111",
        ProviderConfig(
            "forge",
            {"base_url": api.base, "username": "owner", "progress_seconds": 0.05, **options},
            password,
        ),
    )
    assert isinstance(built, A1111Provider)
    await built.start()
    return built


async def test_discovery_fills_models_samplers_and_loras(api: FakeApi):
    Forge(api)
    p = await provider(api)
    assert p.unavailable is None
    assert p.capabilities.models == ("dreamshaper_8.safetensors [879db523c3]",)
    assert p.capabilities.samplers == ("Euler a", "DPM++ 2M")
    with pytest.raises(InvalidRequest, match="one of ink"):
        p.prepare(GenerationRequest("x", loras=(LoraRef("nope"),)))
    await p.close()


async def test_a_failed_health_check_marks_it_unavailable_with_the_reason(api: FakeApi):
    Forge(api)
    p = await provider(api, password="wrong")
    assert p.unavailable is not None and "401" in p.unavailable
    assert "wrong" not in p.unavailable
    await p.close()


async def test_txt2img_with_loras_in_the_prompt_and_live_progress(api: FakeApi):
    Forge(api, seconds=0.6)
    p = await provider(api)
    reports: list[Progress] = []
    request = p.prepare(
        GenerationRequest(
            "a lighthouse",
            seed=40,
            count=2,
            width=64,
            height=64,
            sampler="DPM++ 2M",
            loras=(LoraRef("ink", 0.7),),
        )
    )
    result = await p.generate(request, reports.append, CancelToken())
    await p.close()
    body = api.calls("/sdapi/v1/txt2img")[0].body
    assert body["prompt"] == "a lighthouse <lora:ink:0.7>"
    assert body["batch_size"] == 2 and body["seed"] == 40 and body["sampler_name"] == "DPM++ 2M"
    assert body["override_settings"] == {
        "sd_model_checkpoint": "dreamshaper_8.safetensors [879db523c3]"
    }
    assert [i.seed for i in result.images] == [40, 41]
    assert result.images[1].image.getpixel((0, 0)) == (41, 0, 0)
    assert reports and all(r.total == 10 for r in reports)
    assert reports[0].preview is not None


async def test_cancel_interrupts_the_running_generation(api: FakeApi):
    forge = Forge(api, seconds=5.0)
    p = await provider(api)
    token = CancelToken()
    request = p.prepare(GenerationRequest("a lighthouse", seed=1, width=64, height=64))
    task = asyncio.create_task(p.generate(request, lambda _: None, token))
    while forge.step < 1:  # noqa: ASYNC110 (the web UI has begun generating)
        await asyncio.sleep(0.01)
    token.cancel()
    with pytest.raises(GenerationCancelled):
        await asyncio.wait_for(task, 60)  # a guard against a hang, not a measure
    await p.close()
    assert forge.interrupted.is_set()
    assert forge.step < 10  # it stopped early: interrupted, not waited out


async def test_img2img_upscale_and_interrogate(api: FakeApi):
    Forge(api)
    p = await provider(api, upscale_factor=2.0)
    source = png((5, 5, 5), (40, 30))
    await p.generate(
        p.prepare(
            GenerationRequest(
                "x", seed=2, mode=Mode.IMG2IMG, init_image=source, strength=0.4, width=64, height=64
            )
        ),
        lambda _: None,
        CancelToken(),
    )
    body = api.calls("/sdapi/v1/img2img")[0].body
    assert base64.b64decode(body["init_images"][0]) == source and body["denoising_strength"] == 0.4
    upscale = p.prepare(GenerationRequest("x", mode=Mode.UPSCALE, init_image=source))
    assert upscale.size == (80, 60)
    result = await p.generate(upscale, lambda _: None, CancelToken())
    assert result.images[0].image.size == (80, 60)
    assert await p.describe(Image.new("RGB", (8, 8))) == "a lighthouse (clip)"
    await p.close()


async def test_an_echoed_basic_auth_header_is_scrubbed(api: FakeApi):
    Forge(api)

    async def echo(request: web.Request, body) -> web.Response:
        return json_answer({"detail": f"bad request from {request.headers['Authorization']}"}, 422)

    api.route("POST", "/sdapi/v1/txt2img", echo)
    p = await provider(api)
    with pytest.raises(ProviderRejected, match="bad request from Basic") as caught:
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()
    secret = AUTH.removeprefix("Basic ")
    assert secret not in caught.value.user_message and secret not in str(caught.value.messages)
