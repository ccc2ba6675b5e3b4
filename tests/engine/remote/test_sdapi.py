from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from aiohttp import web
from PIL import Image

from engine import (
    CancelToken,
    GenerationRequest,
    InvalidRequest,
    LoraRef,
    Mode,
    OutcomeUnknown,
    ProviderConfigError,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from engine.registry import ProviderConfig, build_provider
from engine.remote.sdapi import SdapiProvider
from tests.fakes.http_api import FakeApi, Fault, json_answer, png, png_b64

KEY = "sk-sdapi-secret-123"
ROOT = Path(__file__).parents[3]


def serve(api: FakeApi) -> None:
    async def txt2img(request: web.Request, body) -> web.Response:
        if not body.get("prompt"):
            return json_answer({"msg": "prompt is required"})
        shade = body["seed"] % 256
        return json_answer({"images": [png_b64((shade, 0, 0), (body["width"], body["height"]))]})

    async def interrogate(request: web.Request, body) -> web.Response:
        if body.get("model") not in ("clip", "deepdanbooru"):
            return json_answer({"detail": "unknown interrogator"}, 422)
        return json_answer({"caption": "a red square, flat colour"})

    api.route("POST", "/txt2img", txt2img)
    api.route("POST", "/img2img", txt2img)
    api.route("POST", "/interrogate", interrogate)


def provider(api: FakeApi, **options) -> SdapiProvider:
    built = build_provider(
        "sdapi",
        ProviderConfig(
            "sd",
            {
                "base_url": api.base,
                "models": ["dreamshaper"],
                "loras": ["ink"],
                "max_retries": 2,
                "read_timeout": 2.0,
                **options,
            },
            KEY,
        ),
    )
    assert isinstance(built, SdapiProvider)
    return built


async def generate(p: SdapiProvider, **options) -> object:
    request = p.prepare(GenerationRequest("a red square", seed=10, width=64, height=64, **options))
    return await p.generate(request, lambda _: None, CancelToken())


async def test_txt2img_follows_the_document(api: FakeApi):
    serve(api)
    p = provider(api)
    result = await generate(
        p,
        count=2,
        steps=12,
        guidance=6.0,
        sampler="Euler a",
        negative_prompt="blur",
        loras=(LoraRef("ink", 0.6),),
    )
    await p.close()
    calls = api.calls("/txt2img")
    assert [c.body["seed"] for c in calls] == [10, 11]
    assert calls[0].body == {
        "prompt": "a red square",
        "negative_prompt": "blur",
        "loras": [["ink", 0.6]],
        "seed": 10,
        "sampler_name": "Euler a",
        "steps": 12,
        "cfg_scale": 6,
        "width": 64,
        "height": 64,
        "model": "dreamshaper",
    }
    assert calls[0].headers["Authorization"] == f"Bearer {KEY}"
    assert [i.seed for i in result.images] == [10, 11]
    assert result.images[1].image.getpixel((0, 0)) == (11, 0, 0)


async def test_img2img_sends_the_image_and_strength(api: FakeApi):
    serve(api)
    p = provider(api)
    source = png((1, 2, 3))
    await generate(p, mode=Mode.IMG2IMG, init_image=source, strength=0.55)
    await p.close()
    body = api.calls("/img2img")[0].body
    assert base64.b64decode(body["init_image"]) == source
    assert body["denoising_strength"] == 0.55


async def test_a_msg_answer_is_the_providers_refusal(api: FakeApi):
    serve(api)
    api.route("POST", "/txt2img", lambda r, b: _answer({"msg": "model not loaded"}))
    p = provider(api)
    with pytest.raises(ProviderRejected) as caught:
        await generate(p)
    await p.close()
    assert caught.value.user_message == "The sd provider refused the request: model not loaded."
    assert caught.value.messages == ("model not loaded",)


async def _answer(data):
    return json_answer(data)


async def test_interrogate_returns_the_caption_or_the_detail(api: FakeApi):
    serve(api)
    p = provider(api)
    assert await p.describe(Image.new("RGB", (8, 8))) == "a red square, flat colour"
    p2 = provider(api, interrogator="deepdanbooru")
    assert await p2.describe(Image.new("RGB", (8, 8))) == "a red square, flat colour"
    api.route("POST", "/interrogate", lambda r, b: _answer({"detail": "no model"}))
    with pytest.raises(ProviderRejected) as caught:
        await p.describe(Image.new("RGB", (8, 8)))
    await p.close()
    assert caught.value.user_message == "The sd provider could not describe the image: no model."
    await p2.close()


def test_options_it_cannot_honour_are_refused_up_front(api: FakeApi):
    p = provider(api)
    with pytest.raises(InvalidRequest, match="whole number"):
        p.prepare(GenerationRequest("x", guidance=6.5))
    with pytest.raises(InvalidRequest, match="one of ink"):
        p.prepare(GenerationRequest("x", loras=(LoraRef("nope"),)))
    with pytest.raises(InvalidRequest, match="mode"):
        p.prepare(GenerationRequest("x", mode=Mode.UPSCALE, init_image=png()))


async def test_429_with_retry_after_is_retried(api: FakeApi):
    serve(api)
    api.fail(Fault("/txt2img", times=1, status=429, headers={"Retry-After": "0.1"}))
    p = provider(api)
    result = await generate(p)
    await p.close()
    assert len(result.images) == 1 and len(api.calls("/txt2img")) == 2


async def test_a_500_on_a_submit_is_not_blindly_retried(api: FakeApi):
    serve(api)
    api.fail(
        Fault(
            "/txt2img",
            times=1,
            status=500,
            body=b'{"msg": "boom"}',
            headers={"Content-Type": "application/json"},
        )
    )
    p = provider(api)
    with pytest.raises(ProviderUnavailable, match="answered 500: boom") as caught:
        await generate(p)
    await p.close()
    assert caught.value.retryable  # the worker retries the job, with backoff
    assert len(api.calls("/txt2img")) == 1


async def test_a_slow_submit_is_not_sent_again(api: FakeApi):
    serve(api)
    api.fail(Fault("/txt2img", times=1, delay=3.0))
    p = provider(api, read_timeout=0.3)
    with pytest.raises(OutcomeUnknown, match="did not answer in time") as caught:
        await generate(p)
    await p.close()
    assert not caught.value.retryable  # it may have been made (and paid for): no second submit
    assert len(api.calls("/txt2img")) == 1


async def test_an_owner_can_opt_in_to_retrying_a_slow_submit(api: FakeApi):
    serve(api)
    api.fail(Fault("/txt2img", times=1, delay=3.0))
    p = provider(api, read_timeout=0.3, retry_unknown_outcome=True)
    with pytest.raises(ProviderTimeout) as caught:
        await generate(p)
    await p.close()
    assert caught.value.retryable


async def test_a_describe_refusal_never_shows_the_key(api: FakeApi):
    """A server that echoes the request's Authorization header in its ``detail``."""
    serve(api)

    async def echo(request: web.Request, body) -> web.Response:
        return json_answer({"detail": f"no captioner for {request.headers['Authorization']}"}, 422)

    api.route("POST", "/interrogate", echo)
    p = provider(api)
    with pytest.raises(ProviderRejected, match="no captioner") as caught:
        await p.describe(Image.new("RGB", (8, 8)))
    await p.close()
    assert KEY in api.calls("/interrogate")[0].headers["Authorization"]
    for text in (caught.value.user_message, str(caught.value), *caught.value.messages):
        assert KEY not in text and "[redacted]" in text


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"{not json", "application/json", "an answer the bot cannot read"),
        (b"<html>oops</html>", "text/html", "an answer the bot cannot read"),
        (b'{"images": ["bm90IGFuIGltYWdl"]}', "application/json", "not an image"),
        (b'{"images": ["%%%"]}', "application/json", "not valid base64"),
        (
            b'{"images": ["' + base64.b64encode(png()[:40]) + b'"]}',
            "application/json",
            "not an image",
        ),
        (b'{"images": []}', "application/json", "no image"),
    ],
)
async def test_broken_answers_are_clear_errors(api: FakeApi, body, content_type, words):
    serve(api)
    api.fail(Fault("/txt2img", status=200, body=body, headers={"Content-Type": content_type}))
    p = provider(api)
    with pytest.raises(ProviderError, match=words):
        await generate(p)
    await p.close()


async def test_an_oversized_answer_is_refused(api: FakeApi):
    serve(api)
    api.fail(Fault("/txt2img", status=200, body=b"x" * (2 * 2**20)))
    p = provider(api, max_download_mb=1)
    with pytest.raises(ProviderError, match=r"more (data )?than allowed"):
        await generate(p)
    await p.close()


async def test_an_unreachable_server_is_unavailable(api: FakeApi):
    p = provider(api, base_url="http://127.0.0.1:9", max_retries=1)
    with pytest.raises(ProviderUnavailable, match="cannot connect"):
        await generate(p)
    await p.close()


async def test_the_key_never_reaches_logs_or_errors(api: FakeApi, caplog):
    serve(api)
    api.fail(
        Fault(
            "/txt2img",
            times=5,
            status=403,
            body=f'{{"msg": "bad key {KEY}"}}'.encode(),
            headers={"Content-Type": "application/json"},
        )
    )
    caplog.set_level(logging.DEBUG)
    p = provider(api)
    with pytest.raises(ProviderError) as caught:
        await generate(p)
    await p.close()
    assert KEY not in str(caught.value) and "[redacted]" in str(caught.value)
    assert KEY not in caplog.text


async def test_a_caption_that_echoes_the_key_is_scrubbed(api: FakeApi):
    serve(api)

    async def echo(request: web.Request, body) -> web.Response:
        return json_answer({"caption": f"a photo, {request.headers['Authorization']}"})

    api.route("POST", "/interrogate", echo)
    p = provider(api)
    caption = await p.describe(Image.new("RGB", (8, 8)))
    await p.close()
    assert KEY not in caption and caption == "a photo, Bearer [redacted]"


def test_a_provider_without_models_is_refused_at_start_with_the_fix(api: FakeApi):
    with pytest.raises(ProviderConfigError, match=r'models = \["dreamshaper"\]') as caught:
        build_provider("sdapi", ProviderConfig("sd", {"base_url": api.base}, KEY))
    assert caught.value.key == "models"
    assert "Invalid model" in caught.value.allowed
