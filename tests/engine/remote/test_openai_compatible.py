from __future__ import annotations

import pytest
from aiohttp import web

from engine import (
    CancelToken,
    ContentRefused,
    GenerationRequest,
    InvalidRequest,
    ProviderAuthError,
    ProviderConfigError,
    ProviderRejected,
)
from engine.registry import ProviderConfig, build_provider
from engine.remote.openai_compatible import OpenAICompatibleProvider
from tests.fakes.http_api import LOOPBACK_IMAGES, FakeApi, json_answer, png, png_b64

KEY = "sk-openai-compatible-456"


def serve(api: FakeApi) -> None:
    async def generations(request: web.Request, body) -> web.Response:
        if request.headers.get("Authorization") not in (None, f"Bearer {KEY}"):
            return json_answer({"error": {"message": "Incorrect API key", "type": "auth"}}, 401)
        if "forbidden" in body["prompt"]:
            return json_answer(
                {
                    "error": {
                        "message": "Your request was rejected by our safety system.",
                        "type": "invalid_request_error",
                        "code": "content_policy_violation",
                    }
                },
                400,
            )
        if body["size"] == "13x13":
            return json_answer(
                {
                    "error": {
                        "message": "Invalid size",
                        "type": "invalid_request_error",
                        "code": None,
                    }
                },
                400,
            )
        items = []
        for k in range(body["n"]):
            item = {"revised_prompt": f"{body['prompt']}, detailed ({k})"}
            if body.get("response_format") == "url":
                item["url"] = f"{api.base}/files/{k}.png"
            else:
                item["b64_json"] = png_b64((k, 50, 50))
            items.append(item)
        return json_answer({"created": 1696464000, "data": items})

    async def file(request: web.Request, body) -> web.Response:
        return web.Response(body=png((200, 0, 0)), content_type="image/png")

    api.route("POST", "/v1/images/generations", generations)
    api.route("GET", "/files/0.png", file)
    api.route("GET", "/files/1.png", file)


def provider(api: FakeApi, key: str | None = KEY, **options) -> OpenAICompatibleProvider:
    built = build_provider(
        "openai",
        ProviderConfig("oai", {"base_url": api.base, "models": ["sd-turbo-cpp"], **options}, key),
    )
    assert isinstance(built, OpenAICompatibleProvider)
    return built


async def generate(p: OpenAICompatibleProvider, prompt: str = "a cat", **options):
    request = p.prepare(GenerationRequest(prompt, **options))
    return await p.generate(request, lambda _: None, CancelToken())


async def test_base64_images_and_revised_prompts(api: FakeApi):
    serve(api)
    p = provider(api, quality="hd", background="transparent")
    result = await generate(p, count=2)
    await p.close()
    body = api.calls("/v1/images/generations")[0].body
    assert body == {
        "model": "sd-turbo-cpp",
        "prompt": "a cat",
        "n": 2,
        "size": "1024x1024",
        "response_format": "b64_json",
        "quality": "hd",
        "background": "transparent",
    }
    assert [image.image.getpixel((0, 0)) for image in result.images] == [(0, 50, 50), (1, 50, 50)]
    assert all(image.seed is None for image in result.images)
    assert result.info["revised_prompts"] == ["a cat, detailed (0)", "a cat, detailed (1)"]


async def test_a_response_format_left_out_is_not_sent(api: FakeApi):
    serve(api)
    p = provider(api, response_format="")  # gpt-image models refuse the field
    result = await generate(p)
    await p.close()
    assert "response_format" not in api.calls("/v1/images/generations")[0].body
    assert result.images[0].image.getpixel((0, 0)) == (0, 50, 50)


async def test_urls_are_downloaded(api: FakeApi):
    serve(api)
    p = provider(api, response_format="url", key=None, **LOOPBACK_IMAGES)
    result = await generate(p, width=512, height=512)
    await p.close()
    assert result.images[0].image.getpixel((0, 0)) == (200, 0, 0)
    assert "Authorization" not in api.calls("/v1/images/generations")[0].headers


async def test_a_content_policy_refusal_reaches_the_member_as_a_refusal(api: FakeApi):
    serve(api)
    p = provider(api)
    with pytest.raises(ContentRefused) as caught:
        await generate(p, "something forbidden")
    await p.close()
    assert caught.value.user_message == (
        "The oai provider refused the prompt under its content policy: Your request was "
        "rejected by our safety system."
    )


async def test_other_errors_keep_the_servers_message(api: FakeApi):
    serve(api)
    p = provider(api)
    with pytest.raises(ProviderRejected, match="Invalid size"):
        await p.generate(
            p.prepare(GenerationRequest("x")).replace(width=13, height=13),
            lambda _: None,
            CancelToken(),
        )
    bad_key = provider(api, key="sk-wrong")
    with pytest.raises(ProviderAuthError, match="401: Incorrect API key"):
        await generate(bad_key)
    await p.close()
    await bad_key.close()


def test_what_it_cannot_honour_is_refused_up_front(api: FakeApi):
    p = provider(api, sizes=["1024x1024", "1792x1024"])
    for options, field in (
        ({"seed": 3}, "seed"),
        ({"negative_prompt": "blur"}, "negative"),
        ({"steps": 20}, "steps"),
        ({"guidance": 7.0}, "guidance"),
        ({"width": 512, "height": 512}, "size"),
        ({"count": 5}, "count"),
        ({"model": "dall-e-9"}, "model"),
    ):
        with pytest.raises(InvalidRequest) as caught:
            p.prepare(GenerationRequest("x", **options))
        assert caught.value.field == field
    assert p.prepare(GenerationRequest("x", width=1792, height=1024)).size == (1792, 1024)


def test_a_model_must_be_named():
    with pytest.raises(ProviderConfigError, match="name at least one model"):
        build_provider("openai", ProviderConfig("oai", {"base_url": "http://127.0.0.1:1"}))


async def test_the_health_check_marks_an_unreachable_server_unavailable(api: FakeApi):
    serve(api)
    api.route("GET", "/v1/models", lambda r, b: _models())
    healthy = provider(api)
    await healthy.start()
    assert healthy.unavailable is None
    await healthy.close()
    down = provider(api, base_url="http://127.0.0.1:9", max_retries=0)
    await down.start()
    assert down.unavailable is not None and "cannot connect" in down.unavailable
    await down.close()


async def _models():
    return json_answer({"object": "list", "data": [{"id": "sd-turbo-cpp", "object": "model"}]})
