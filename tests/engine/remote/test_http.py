"""The one HTTP policy every adapter shares: Retry-After, lost submits, scrubbed texts."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import struct
import time
import zlib

import httpx
import pytest
from aiohttp import web

from engine import (
    OutcomeUnknown,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from engine.deadline import run_within
from engine.registry import ProviderConfig, build_provider
from engine.remote.http import HttpPolicy, RemoteClient
from tests.fakes.http_api import FakeApi, Fault, json_answer

KEY = "sk-echoed-by-a-careless-server-77"


def ok(api: FakeApi) -> None:
    async def answer(request: web.Request, body: object) -> web.Response:
        return json_answer({"ok": True})

    api.route("GET", "/thing", answer)
    api.route("POST", "/make", answer)


def client(api: FakeApi, **policy: object) -> RemoteClient:
    return RemoteClient("test", api.base, policy=HttpPolicy(**policy))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["soon", "", "Fri, 99 Foo 2026", "nan", "inf", "-infinity"])
async def test_an_unreadable_retry_after_falls_back_to_the_normal_backoff(
    api: FakeApi, waits: list[float], value: str
):
    ok(api)
    api.fail(Fault("/thing", status=429, headers={"Retry-After": value}))
    c = client(api, backoff_base=0.5)
    answer = await c.request("GET", "/thing")
    await c.close()
    assert answer.status == 200 and len(api.calls("/thing")) == 2
    assert len(waits) == 1 and 0.25 <= waits[0] <= 0.5  # the jittered first backoff


async def test_a_retry_after_date_is_read(api: FakeApi, waits: list[float]):
    ok(api)
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    api.fail(Fault("/thing", status=503, headers={"Retry-After": when}))
    c = client(api)
    with run_within(600):
        await c.request("GET", "/thing")
    await c.close()
    assert len(waits) == 1 and 25 <= waits[0] <= 31


async def test_a_long_retry_after_is_honoured_in_full_within_the_jobs_deadline(
    api: FakeApi, waits: list[float]
):
    ok(api)
    api.fail(Fault("/thing", status=429, headers={"Retry-After": "45"}))
    c = client(api)
    with run_within(600):
        answer = await c.request("GET", "/thing")
    await c.close()
    assert answer.status == 200
    assert waits == [45.0]  # not shortened to the 20 s backoff cap


async def test_a_retry_after_past_the_deadline_hands_the_wait_to_the_queue(
    api: FakeApi, waits: list[float]
):
    ok(api)
    api.fail(Fault("/make", status=429, headers={"Retry-After": "120"}))
    c = client(api)
    with run_within(60), pytest.raises(RateLimited, match="wait 120 s") as caught:
        await c.request("POST", "/make", idempotent=False)
    await c.close()
    assert waits == [] and len(api.calls("/make")) == 1
    assert caught.value.retry_after == 120.0 and caught.value.retryable


async def test_a_lost_answer_to_a_submit_is_not_retried(api: FakeApi):
    ok(api)
    api.fail(Fault("/make", delay=2.0))
    c = client(api, read_timeout=0.2)
    with pytest.raises(OutcomeUnknown, match="not sent again") as caught:
        await c.request("POST", "/make", idempotent=False)
    await c.close()
    assert not caught.value.retryable
    assert len(api.calls("/make")) == 1


async def test_a_gateway_timeout_on_a_submit_is_an_unknown_outcome(api: FakeApi):
    ok(api)
    api.fail(Fault("/make", status=504, body=b""))
    c = client(api)
    with pytest.raises(OutcomeUnknown, match="answered 504"):
        await c.request("POST", "/make", idempotent=False)
    await c.close()
    assert len(api.calls("/make")) == 1


def test_every_engine_error_has_the_keys_scrubbed():
    """Scrubbing is on the one path every error text takes, whichever adapter wrote it."""
    build_provider(
        "sdapi", ProviderConfig("s", {"base_url": "http://127.0.0.1:1", "models": ["m"]}, KEY)
    )
    errors = [
        ProviderError(f"a forgetful adapter said: {KEY}"),
        ProviderRejected(f"refused: {KEY}", messages=(f"bad key {KEY}",)),
    ]
    for error in errors:
        assert KEY not in error.user_message and KEY not in str(error)
        assert "[redacted]" in error.user_message
    assert errors[1].messages == ("bad key [redacted]",)  # type: ignore[attr-defined]


async def test_a_refused_key_is_named_as_the_cause(api: FakeApi):
    api.fail(Fault("/thing", status=401, body=b'{"detail": "Invalid API key."}'))
    c = client(api)
    with pytest.raises(ProviderAuthError) as caught:
        await c.request("GET", "/thing")
    await c.close()
    assert caught.value.user_message == (
        "The test provider refused the bot's API key or password (answered 401: Invalid API "
        "key); the bot's owner has to fix it."
    )


async def test_a_message_with_its_own_full_stop_ends_with_one(api: FakeApi):
    api.fail(Fault("/make", status=400, body=b'{"message": "Invalid model."}'))
    c = client(api)
    with pytest.raises(ProviderRejected) as caught:
        await c.request("POST", "/make", idempotent=False)
    await c.close()
    assert caught.value.user_message == "The test provider answered 400: Invalid model."


async def test_a_dropped_connection_reads_as_a_sentence(api: FakeApi):
    async def hang_up(request: web.Request, body: object) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return json_answer({})

    api.route("GET", "/thing", hang_up)
    c = client(api, max_retries=0)
    with pytest.raises(ProviderUnavailable) as caught:
        await c.request("GET", "/thing")
    await c.close()
    assert caught.value.user_message.startswith("The test provider dropped the connection (")


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: enough for Image.open."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [5000, 20000])
def test_a_decompression_bomb_is_called_too_large_not_a_non_image(side: int):
    c = RemoteClient("test", "http://127.0.0.1:1")
    with pytest.raises(ProviderError) as caught:
        c.decode_image(_png_header(side, side), "image/png")
    assert "too large to open" in caught.value.user_message
    assert "not an image" not in caught.value.user_message
    assert ". (" not in caught.value.user_message


@pytest.mark.parametrize(
    "headers",
    [
        {"apikey": KEY},  # the AI Horde's header
        {"Cookie": f"swarm_user_token={KEY}"},
        {"Authorization": f"Bearer {KEY}"},
    ],
)
async def test_a_redirect_to_another_host_carries_no_credential(
    api: FakeApi, headers: dict[str, str]
):
    elsewhere = FakeApi()  # same address, another port: another origin
    await elsewhere.start()
    try:
        ok(elsewhere)

        async def away(request: web.Request, body: object) -> web.Response:
            return web.Response(status=302, headers={"Location": f"{elsewhere.base}/thing"})

        api.route("GET", "/thing", away)
        remote = RemoteClient("test", api.base, headers=headers, secrets=[KEY])
        try:
            await remote.request("GET", "/thing")
            await remote.request("GET", f"{elsewhere.base}/thing")  # an absolute URL
        finally:
            await remote.close()
        assert api.calls("/thing")[0].headers.get(next(iter(headers))) is not None
        assert len(elsewhere.calls("/thing")) == 2
        for call in elsewhere.calls("/thing"):
            assert not any(KEY in value for value in call.headers.values())
    finally:
        await elsewhere.stop()


async def test_json_nested_past_the_parsers_depth_is_unreadable_not_a_crash(api: FakeApi):
    async def deep(request: web.Request, body: object) -> web.Response:
        return web.Response(body=b"[" * 200_000, content_type="application/json")

    api.route("GET", "/thing", deep)
    remote = client(api)
    try:
        answer = await remote.request("GET", "/thing")
    finally:
        await remote.close()
    assert answer.json() is None


@pytest.mark.parametrize("run_left", [None, -1.0, 0.5])
async def test_a_server_trickling_its_answer_times_out_in_all(api: FakeApi, run_left: float | None):
    async def trickle(request: web.Request, body: object) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        while True:  # a byte well within every read timeout, for ever (slowloris)
            await response.write(b" ")
            await asyncio.sleep(0.02)

    api.route("GET", "/thing", trickle)
    remote = client(api, read_timeout=0.4, connect_timeout=0.2, max_retries=0)
    try:
        # outside a run; past one (a clean-up after the job's time ran out); within one, but
        # shielded from the job's own timeout (the Horde's withdraw after a cancel)
        run = contextlib.nullcontext() if run_left is None else run_within(run_left)
        with run, pytest.raises(ProviderTimeout):
            # a guard against a hang, not a measure
            await asyncio.wait_for(remote.request("GET", "/thing"), 30)
    finally:
        await remote.close()


def test_a_password_in_the_base_url_is_scrubbed_like_a_key():
    password = "hunter2-in-the-url-9731"
    remote = RemoteClient("test", f"http://owner:{password}@127.0.0.1:1")
    token = base64.b64encode(f"owner:{password}".encode()).decode()
    said = remote.say(f"failed at ws://owner:{password}@127.0.0.1:1/ws (Basic {token})")
    assert password not in said and token not in said


async def test_credentials_stay_on_an_upgrade_to_https_on_the_same_host_only():
    sent: list[httpx.Headers] = []
    remote = RemoteClient("test", "http://api.example", headers={"apikey": KEY})
    hook = remote._own_host_only
    for url in ("https://api.example/x", "https://api.example:8443/x", "https://evil.example/x"):
        request = httpx.Request("GET", url, headers={"apikey": KEY})
        await hook(request)
        sent.append(request.headers)
    await remote.close()
    assert [headers.get("apikey") for headers in sent] == [KEY, None, None]
