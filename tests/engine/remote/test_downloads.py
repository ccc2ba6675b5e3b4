"""Image URLs a provider's answer names: fetched without its key, only from allowed hosts,
over https unless allowed, never from non-public addresses unless the owner named the host,
on the address that was checked, and without the image host's words reaching anyone."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
from typing import Any

import pytest
from aiohttp import web
from PIL import Image, PngImagePlugin

from engine import CancelToken, GenerationRequest, OutcomeUnknown, ProviderError
from engine.registry import ProviderConfig, build_provider
from engine.remote.apiframe import ApiframeProvider
from engine.remote.http import RemoteClient
from engine.remote.openai_compatible import OpenAICompatibleProvider
from tests.engine.remote.test_apiframe import KEY as APIFRAME_KEY
from tests.engine.remote.test_apiframe import Apiframe
from tests.fakes.http_api import LOOPBACK_IMAGES, FakeApi, json_answer, png

KEY = "sk-image-url-provider-31337"
SECRET_PAGE = "internal admin page: do not show"


@pytest.fixture
async def images() -> Any:
    """A second server, the image host (a CDN), on another port of 127.0.0.1."""
    fake = FakeApi()
    await fake.start()

    async def picture(request: web.Request, body: object) -> web.Response:
        return web.Response(body=png((9, 8, 7)), content_type="image/png")

    fake.route("GET", "/cdn/0.png", picture)
    fake.route("GET", "/cdn/1.png", picture)
    yield fake
    await fake.stop()


def returning(api: FakeApi, *urls: str) -> None:
    """An OpenAI-compatible API whose answer names ``urls``."""

    async def generations(request: web.Request, body: Any) -> web.Response:
        return json_answer({"data": [{"url": url} for url in urls[: body["n"]]]})

    api.route("POST", "/v1/images/generations", generations)


def openai(api: FakeApi, **options: Any) -> OpenAICompatibleProvider:
    built = build_provider(
        "openai",
        ProviderConfig(
            "oai",
            {
                "base_url": api.base,
                "models": ["m"],
                "response_format": "url",
                "max_retries": 1,
                **options,
            },
            KEY,
        ),
    )
    assert isinstance(built, OpenAICompatibleProvider)
    return built


async def run(p: OpenAICompatibleProvider, count: int = 1) -> Any:
    request = p.prepare(GenerationRequest("a cat", count=count, width=512, height=512))
    try:
        return await p.generate(request, lambda _: None, CancelToken())
    finally:
        await p.close()


def port(server: FakeApi) -> int:
    return int(server.base.rsplit(":", 1)[1])


async def test_apiframes_image_host_never_sees_the_key(api: FakeApi, images: FakeApi):
    """The APIFRAME document puts images on a CDN host: the key must stay with the API."""
    Apiframe(api)
    api.route("POST", "/fetch", _finished_on(images))
    p = build_provider(
        "apiframe",
        ProviderConfig(
            "photos",
            {"base_url": api.base, "trainings": {"alex": "t-1"}, **LOOPBACK_IMAGES},
            APIFRAME_KEY,
        ),
    )
    assert isinstance(p, ApiframeProvider)
    request = p.prepare(GenerationRequest("a portrait", count=2))
    result = await p.generate(request, lambda _: None, CancelToken())
    await p.close()
    assert len(result.images) == 2
    assert api.calls("/ai-photo-generate")[0].headers["Authorization"] == APIFRAME_KEY
    downloads = images.calls("/cdn/0.png") + images.calls("/cdn/1.png")
    assert len(downloads) == 2
    for call in downloads:
        assert "Authorization" not in call.headers
        assert not any(APIFRAME_KEY in value for value in call.headers.values())


def _finished_on(images: FakeApi) -> Any:
    async def fetch(request: web.Request, body: Any) -> web.Response:
        urls = [f"{images.base}/cdn/{k}.png" for k in range(2)]
        return json_answer({"task_id": "t-1", "status": "finished", "image_urls": urls})

    return fetch


def test_apiframes_documented_cdn_is_allowed_by_default(api: FakeApi):
    p = build_provider(
        "apiframe", ProviderConfig("photos", {"trainings": {"alex": "t-1"}}, APIFRAME_KEY)
    )
    assert isinstance(p, ApiframeProvider)
    rules = p.options.image_host_rules
    assert rules.allowed == {"api.apiframe.pro", "cdn.apiframe.pro"}
    assert not rules.http and not rules.private


async def test_the_openai_image_host_gets_no_credentials(api: FakeApi, images: FakeApi):
    returning(api, f"{images.base}/cdn/0.png")
    result = await run(openai(api, **LOOPBACK_IMAGES))
    assert result.images[0].image.getpixel((0, 0)) == (9, 8, 7)
    assert api.calls("/v1/images/generations")[0].headers["Authorization"] == f"Bearer {KEY}"
    (download,) = images.calls("/cdn/0.png")
    assert "Authorization" not in download.headers


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/cdn/0.png",  # a loopback name not on the list
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://10.0.0.8/cdn/0.png",  # a private address
        "https://images.elsewhere.example/cdn/0.png",  # a public host not on the list
        "file:///etc/passwd",
    ],
)
async def test_hosts_that_are_not_listed_are_refused(
    api: FakeApi, images: FakeApi, url: str, caplog: pytest.LogCaptureFixture
):
    returning(api, url.format(port=port(images)))
    with pytest.raises(ProviderError, match="image link the bot may not fetch") as caught:
        await run(openai(api, **LOOPBACK_IMAGES))
    assert not caught.value.retryable
    assert images.requests == []
    assert "refused an image URL" in caplog.text  # the owner learns which host and why


async def test_a_listed_name_that_resolves_to_loopback_is_refused(api: FakeApi, images: FakeApi):
    """Allowed as a host, but not named as private: its loopback address is refused."""
    returning(api, f"http://localhost:{port(images)}/cdn/0.png")
    p = openai(api, image_hosts=["localhost"], image_hosts_http=["localhost"])
    with pytest.raises(ProviderError, match="may not fetch"):
        await run(p)
    assert images.requests == []


async def test_plain_http_is_refused_unless_allowed_for_the_host(api: FakeApi, images: FakeApi):
    returning(api, f"{images.base}/cdn/0.png")
    with pytest.raises(ProviderError, match="may not fetch"):
        await run(openai(api, image_hosts_private=["127.0.0.1"]))
    assert images.requests == []
    result = await run(
        openai(api, image_hosts_private=["127.0.0.1"], image_hosts_http=["127.0.0.1"])
    )
    assert len(result.images) == 1


async def test_a_redirect_off_the_allowed_hosts_is_refused(api: FakeApi, images: FakeApi):
    async def away(request: web.Request, body: object) -> web.Response:
        raise web.HTTPFound(f"http://localhost:{port(images)}/cdn/0.png")

    async def along(request: web.Request, body: object) -> web.Response:
        raise web.HTTPFound("/cdn/1.png")

    images.route("GET", "/away.png", away)
    images.route("GET", "/along.png", along)
    returning(api, f"{images.base}/away.png")
    with pytest.raises(ProviderError, match="may not fetch"):
        await run(openai(api, **LOOPBACK_IMAGES))
    assert images.calls("/cdn/0.png") == []
    returning(api, f"{images.base}/along.png")
    result = await run(openai(api, **LOOPBACK_IMAGES))  # a redirect on the same host is fine
    assert len(result.images) == 1 and len(images.calls("/cdn/1.png")) == 1


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (404, json.dumps({"detail": SECRET_PAGE}), "application/json"),
        (500, json.dumps({"error": {"message": SECRET_PAGE}}), "application/json"),
        (403, SECRET_PAGE, "text/plain"),
        (200, SECRET_PAGE, "text/html"),
    ],
)
async def test_the_image_hosts_words_never_reach_the_member(
    api: FakeApi, images: FakeApi, status: int, body: str, content_type: str
):
    async def page(request: web.Request, _: object) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type)

    images.route("GET", "/page", page)
    returning(api, f"{images.base}/page")
    with pytest.raises(ProviderError) as caught:
        await run(openai(api, **LOOPBACK_IMAGES))
    assert SECRET_PAGE not in caught.value.user_message and SECRET_PAGE not in str(caught.value)


async def test_the_connection_goes_to_the_address_that_was_checked(
    api: FakeApi, images: FakeApi, monkeypatch: pytest.MonkeyPatch
):
    """A name is resolved once, by the check; the download connects to that address with the
    name as Host, so a second, different DNS answer (rebinding) is never used."""
    loop = asyncio.get_running_loop()
    asked: list[str] = []

    async def resolver(host: str | bytes, port: int, **kwargs: Any) -> list[Any]:
        asked.append(host.decode() if isinstance(host, bytes) else host)
        address = "127.0.0.1" if len(asked) == 1 else "10.66.66.66"  # the second answer differs
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(loop, "getaddrinfo", resolver)
    host = f"images.test:{port(images)}"  # a name the system's resolver does not know
    returning(api, f"http://{host}/cdn/0.png")
    options = {"image_hosts_private": ["images.test"], "image_hosts_http": ["images.test"]}
    result = await run(openai(api, connect_timeout=1.0, **options))
    assert len(result.images) == 1 and asked == ["images.test"]
    assert images.calls("/cdn/0.png")[0].headers["Host"] == host


async def test_every_address_of_a_name_is_checked(
    api: FakeApi, images: FakeApi, monkeypatch: pytest.MonkeyPatch
):
    async def resolver(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:127.0.0.1", port, 0, 0)),
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolver)
    returning(api, "https://cdn.example.org/0.png")
    with pytest.raises(ProviderError, match="may not fetch"):
        await run(openai(api, image_hosts=["cdn.example.org"]))


async def test_a_downloaded_image_keeps_only_its_pixels(api: FakeApi, images: FakeApi):
    async def tagged(request: web.Request, body: object) -> web.Response:
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", "@everyone from the provider")
        buffer = io.BytesIO()
        Image.new("RGB", (16, 16), (1, 2, 3)).save(buffer, "PNG", pnginfo=info)
        return web.Response(body=buffer.getvalue(), content_type="image/png")

    images.route("GET", "/tagged.png", tagged)
    returning(api, f"{images.base}/tagged.png")
    result = await run(openai(api, **LOOPBACK_IMAGES))
    image = result.images[0].image
    assert image.info == {} and image.getpixel((0, 0)) == (1, 2, 3)


def test_image_host_settings_are_checked(api: FakeApi):
    for bad in (["https://cdn.example.org"], ["cdn.example.org/images"], ["-bad-.example"]):
        with pytest.raises(Exception, match="host name"):
            openai(api, image_hosts=bad)
    p = openai(api, image_hosts=["CDN.Example.org."], image_hosts_private=["[::1]"])
    assert p.options.image_host_rules.allowed == {"cdn.example.org"}
    assert p.options.image_host_rules.private == {"::1"}


async def test_a_failed_download_of_a_paid_image_is_not_submitted_again(
    api: FakeApi, images: FakeApi
):
    async def down(request: web.Request, body: object) -> web.Response:
        return web.Response(status=503, text=SECRET_PAGE)

    images.route("GET", "/gone.png", down)
    returning(api, f"{images.base}/gone.png")
    with pytest.raises(OutcomeUnknown, match="answered 503") as caught:
        await run(openai(api, **LOOPBACK_IMAGES))
    assert not caught.value.retryable and len(api.calls("/v1/images/generations")) == 1
    assert len(images.calls("/gone.png")) == 2  # the download itself is retried (max_retries=1)


async def test_a_downloaded_image_is_decoded_off_the_event_loop(
    api: FakeApi, images: FakeApi, monkeypatch: pytest.MonkeyPatch
):
    threads: list[threading.Thread] = []
    decode = RemoteClient.decode_image

    def recording(self: RemoteClient, data: bytes, content_type: str = "") -> Image.Image:
        threads.append(threading.current_thread())
        return decode(self, data, content_type)

    monkeypatch.setattr(RemoteClient, "decode_image", recording)
    returning(api, f"{images.base}/cdn/0.png")
    await run(openai(api, **LOOPBACK_IMAGES))
    assert threads and all(thread is not threading.main_thread() for thread in threads)
