from __future__ import annotations

import pytest
from aiohttp import web

from engine import (
    CancelToken,
    GenerationRequest,
    InvalidRequest,
    OutcomeUnknown,
    Progress,
    ProviderAuthError,
    ProviderConfigError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from engine.registry import ProviderConfig, build_provider
from engine.remote.apiframe import ApiframeProvider
from tests.fakes.http_api import LOOPBACK_IMAGES, FakeApi, Fault, json_answer, png

KEY = "apiframe-key-2222"


class Apiframe:
    def __init__(self, api: FakeApi, polls_before_done: int = 2, fail: bool = False) -> None:
        self.api = api
        self.left = polls_before_done
        self.fail = fail
        api.route("POST", "/ai-photo-generate", self.generate)
        api.route("POST", "/fetch", self.fetch)
        for k in range(4):
            api.route("GET", f"/images/{k}.png", self.image)

    async def generate(self, request: web.Request, body) -> web.Response:
        if request.headers.get("Authorization") != KEY:
            return web.Response(status=401, body=b"")
        if not body.get("prompt"):
            return json_answer({"errors": [{"msg": "prompt is required"}]}, 400)
        self.count = int(body["number_of_images"])
        return json_answer(
            {"task_id": "t-1", "status": "processing", "task_type": "ai-photo-generate"}
        )

    async def fetch(self, request: web.Request, body) -> web.Response:
        assert body == {"task_id": "t-1"}
        if self.left:
            self.left -= 1
            return json_answer({"task_id": "t-1", "status": "processing", "percentage": 50})
        if self.fail:
            return json_answer(
                {"task_id": "t-1", "status": "failed", "message": "training not found"}
            )
        urls = [f"{self.api.base}/images/{k}.png" for k in range(self.count)]
        return json_answer({"task_id": "t-1", "status": "finished", "image_urls": urls})

    async def image(self, request: web.Request, body) -> web.Response:
        return web.Response(body=png((3, 4, 5)), content_type="image/png")


def provider(api: FakeApi, key: str | None = KEY, **options) -> ApiframeProvider:
    built = build_provider(
        "apiframe",
        ProviderConfig(
            "photos",
            {
                "base_url": api.base,
                "trainings": {"alex": "train-77"},
                "poll_seconds": 0.01,
                **LOOPBACK_IMAGES,
                **options,
            },
            key,
        ),
    )
    assert isinstance(built, ApiframeProvider)
    return built


async def test_generate_polls_until_finished_and_downloads(api: FakeApi):
    Apiframe(api)
    p = provider(api)
    reports: list[Progress] = []
    request = p.prepare(
        GenerationRequest("a portrait of TOKMSN", seed=9, count=2, width=768, height=512)
    )
    result = await p.generate(request, reports.append, CancelToken())
    await p.close()
    assert api.calls("/ai-photo-generate")[0].body == {
        "training_id": "train-77",
        "prompt": "a portrait of TOKMSN",
        "aspect_ratio": "custom",
        "width": "768",
        "height": "512",
        "number_of_images": "2",
        "seed": 9,
    }
    assert api.calls("/ai-photo-generate")[0].headers["Authorization"] == KEY
    assert len(api.calls("/fetch")) == 3
    assert len(result.images) == 2 and result.info["seed"] == 9
    assert reports[-1].step == 50 and reports[-1].total == 100


async def test_a_failed_task_and_a_400_carry_the_providers_words(api: FakeApi):
    Apiframe(api, fail=True)
    p = provider(api)
    with pytest.raises(ProviderRejected) as failed:
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    assert failed.value.user_message == (
        "The photos provider could not make the images: training not found."
    )
    with pytest.raises(ProviderRejected, match="prompt is required") as caught:
        await p.generate(
            p.prepare(GenerationRequest("x")).replace(prompt=""), lambda _: None, CancelToken()
        )
    await p.close()
    assert caught.value.messages == ("prompt is required",)


async def test_401_and_500_with_empty_bodies(api: FakeApi):
    Apiframe(api)
    p = provider(api, key="wrong")
    with pytest.raises(ProviderAuthError, match="401"):
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()
    api.route("POST", "/ai-photo-generate", lambda r, b: _empty(500))
    p = provider(api)
    with pytest.raises(ProviderUnavailable, match="500"):
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()


async def _empty(status: int) -> web.Response:
    return web.Response(status=status, body=b"")


async def test_polling_stops_at_the_deadline(api: FakeApi):
    Apiframe(api, polls_before_done=10**6)
    p = provider(api, deadline_seconds=0.2)
    with pytest.raises(OutcomeUnknown, match=r"did not finish within 0\.2 s") as caught:
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()
    assert not caught.value.retryable  # the task was paid for: the queue must not submit again
    assert len(api.calls("/ai-photo-generate")) == 1


def test_it_is_sfw_only_and_needs_a_training(api: FakeApi):
    with pytest.raises(ProviderConfigError, match="never NSFW"):
        provider(api, nsfw=True)
    with pytest.raises(ProviderConfigError, match="training_id"):
        build_provider("apiframe", ProviderConfig("photos", {}))
    p = provider(api)
    assert not p.capabilities.nsfw
    for options in ({"negative_prompt": "x"}, {"steps": 5}, {"count": 5}, {"model": "sam"}):
        with pytest.raises(InvalidRequest):
            p.prepare(GenerationRequest("x", **options))


async def test_a_poll_that_fails_for_a_while_is_asked_again_not_resubmitted(api: FakeApi):
    Apiframe(api)
    api.fail(Fault("/fetch", times=3, status=502, body=b""))
    p = provider(api, max_retries=0)
    result = await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()
    assert len(result.images) == 1
    assert len(api.calls("/ai-photo-generate")) == 1 and len(api.calls("/fetch")) == 6


async def test_an_owner_can_opt_in_to_resubmitting_a_task_past_its_deadline(api: FakeApi):
    Apiframe(api, polls_before_done=10**6)
    p = provider(api, deadline_seconds=0.2, retry_unknown_outcome=True)
    with pytest.raises(ProviderTimeout) as caught:
        await p.generate(p.prepare(GenerationRequest("x")), lambda _: None, CancelToken())
    await p.close()
    assert caught.value.retryable and not isinstance(caught.value, OutcomeUnknown)
