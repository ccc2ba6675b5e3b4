from __future__ import annotations

import logging

import pytest
from aiohttp import web

from engine import (
    CancelToken,
    GenerationRequest,
    InvalidRequest,
    LoraRef,
    ProviderAuthError,
    ProviderConfigError,
    ProviderError,
    ProviderRejected,
)
from engine.registry import ProviderConfig, build_provider
from engine.remote.visioncraft import VisionCraftProvider
from tests.fakes.http_api import FakeApi, Fault, json_answer, png

TOKEN = "vc-token-000111"


def serve(api: FakeApi) -> None:
    async def sd(request: web.Request, body) -> web.Response:
        if body.get("token") != TOKEN:
            return json_answer({"error": "Invalid token"}, 200)
        if not 1 <= body["steps"] <= 30:
            return json_answer({"detail": "steps out of range"}, 422)
        return web.Response(
            body=png((7, 7, 7), (body["width"], body["height"])), content_type="image/png"
        )

    api.route("POST", "/sd", sd)


def provider(api: FakeApi, token: str | None = TOKEN, **options) -> VisionCraftProvider:
    built = build_provider(
        "visioncraft",
        ProviderConfig(
            "vc",
            {"base_url": api.base, "models": ["sdxl-base"], "loras": ["pixel"], **options},
            token,
        ),
    )
    assert isinstance(built, VisionCraftProvider)
    return built


async def test_a_request_follows_the_document_and_returns_the_image(api: FakeApi):
    serve(api)
    p = provider(api)
    request = p.prepare(
        GenerationRequest(
            "a landscape",
            width=512,
            height=256,
            steps=20,
            guidance=7.0,
            negative_prompt="blur",
            count=2,
            loras=(LoraRef("pixel", 2),),
        )
    )
    result = await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    calls = api.calls("/sd")
    assert len(calls) == 2
    assert calls[0].body == {
        "token": TOKEN,
        "model": "sdxl-base",
        "prompt": "a landscape",
        "negative_prompt": "blur",
        "sampler": "Euler",
        "steps": 20,
        "width": 512,
        "height": 256,
        "cfg_scale": 7,
        "loras": {"pixel": 2},
    }
    assert [image.image.size for image in result.images] == [(512, 256)] * 2


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"steps": 31}, "steps"),
        ({"width": 1536}, "width"),
        ({"guidance": 7.5}, "guidance"),
        ({"seed": 1}, "seed"),
        ({"loras": (LoraRef("other"),)}, "loras"),
    ],
)
def test_the_documented_ranges_are_enforced_before_sending(api: FakeApi, options, field):
    with pytest.raises(InvalidRequest) as caught:
        provider(api).prepare(GenerationRequest("x", **options))
    assert caught.value.field == field


async def test_a_json_error_is_a_refusal_and_the_token_never_leaks(api: FakeApi, caplog):
    serve(api)
    caplog.set_level(logging.DEBUG)
    p = provider(api, token="vc-wrong-token")
    with pytest.raises(ProviderRejected, match="Invalid token") as caught:
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()
    assert caught.value.user_message == "The vc provider refused the request: Invalid token."
    assert "vc-wrong-token" not in str(caught.value) + caplog.text


async def test_a_non_image_body_is_an_error(api: FakeApi):
    serve(api)
    api.fail(
        Fault("/sd", status=200, body=b"<html>busy</html>", headers={"Content-Type": "text/html"})
    )
    p = provider(api)
    with pytest.raises(ProviderError, match="instead of an image"):
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()


async def test_no_key_and_no_model_are_clear(api: FakeApi):
    p = provider(api, token=None)
    with pytest.raises(ProviderAuthError, match="no API key"):
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()
    with pytest.raises(ProviderConfigError, match="name the VisionCraft models"):
        build_provider("visioncraft", ProviderConfig("vc", {}))
