"""The one HTTP policy every adapter shares: Retry-After, lost submits, scrubbed texts."""

from __future__ import annotations

import email.utils
import time

import pytest
from aiohttp import web

from engine import OutcomeUnknown, ProviderError, ProviderRejected, RateLimited
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
    build_provider("sdapi", ProviderConfig("s", {"base_url": "http://127.0.0.1:1"}, KEY))
    errors = [
        ProviderError(f"a forgetful adapter said: {KEY}"),
        ProviderRejected(f"refused: {KEY}", messages=(f"bad key {KEY}",)),
    ]
    for error in errors:
        assert KEY not in error.user_message and KEY not in str(error)
        assert "[redacted]" in error.user_message
    assert errors[1].messages == ("bad key [redacted]",)  # type: ignore[attr-defined]
