"""The prompt helper against a fake chat-completions server on loopback: what it sends, where
its key goes, and every way an answer can be no answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.prompt_helper import (
    HelperBusy,
    HelperRefused,
    HelperTimeout,
    HelperUnavailable,
    PromptHelper,
    Task,
)
from bot.prompt_helper.client import DECLINED, EMPTY, FILTERED, MAX_BODY_BYTES, UNREADABLE
from bot.settings import PromptHelperSettings
from tests.fakes.chat_api import PATH, FakeChat, said
from tests.fakes.http_api import FakeApi, Fault, json_answer

KEY = "sk-helper-secret-123"


def helper_for(chat: FakeChat, key: str | None = KEY, **settings: Any) -> PromptHelper:
    options = {"enabled": True, "base_url": chat.url, "model": "fake-chat", **settings}
    return PromptHelper(PromptHelperSettings(**options), key, max_prompt=1500)


@pytest.fixture
async def chat() -> AsyncIterator[FakeChat]:
    fake = FakeChat("A red fox in a snowy birch forest at dawn, soft golden light")
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def helper(chat: FakeChat) -> AsyncIterator[PromptHelper]:
    made = helper_for(chat)
    yield made
    await made.close()


async def test_enhance_sends_a_chat_completion_with_the_fixed_instructions(
    chat: FakeChat, helper: PromptHelper
):
    helped = await helper.run(Task.ENHANCE, "  a fox\n in snow ", user_id=1)
    assert helped.text == "A red fox in a snowy birch forest at dawn, soft golden light"
    assert helped.original == "a fox in snow" and helped.changed
    [body] = chat.asked
    assert body["model"] == "fake-chat" and body["stream"] is False
    assert body["max_tokens"] == 400 and body["temperature"] == 0.7
    system, user = body["messages"]
    assert system["role"] == "system" and "text-to-image" in system["content"]
    assert "no preamble" in system["content"]
    assert user == {"role": "user", "content": "a fox in snow"}


async def test_each_task_has_its_own_instructions(chat: FakeChat, helper: PromptHelper):
    for task in Task:
        await helper.run(task, "ein Fuchs", user_id=None, limit=120)
    systems = [body["messages"][0]["content"] for body in chat.asked]
    assert "Expand" in systems[0] and "Translate" in systems[1] and "120 characters" in systems[2]
    assert len(set(systems)) == 3


async def test_the_key_goes_as_a_bearer_token_to_the_configured_host_only(chat: FakeChat):
    helper = helper_for(chat)
    try:
        await helper.run(Task.ENHANCE, "a fox", user_id=1)
    finally:
        await helper.close()
    assert chat.calls(PATH)[0].headers["Authorization"] == f"Bearer {KEY}"
    keyless = helper_for(chat, key=None)
    try:
        await keyless.run(Task.ENHANCE, "a fox", user_id=1)
    finally:
        await keyless.close()
    assert "Authorization" not in chat.calls(PATH)[1].headers


async def test_a_redirect_elsewhere_never_carries_the_key(chat: FakeChat):
    elsewhere = FakeChat("answered elsewhere")
    await elsewhere.start()

    async def moved(request: web.Request, body: Any) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(f"{elsewhere.base}{PATH}")

    chat.route("POST", PATH, moved)
    helper = helper_for(chat)
    try:
        helped = await helper.run(Task.ENHANCE, "a fox", user_id=1)
    finally:
        await helper.close()
        await elsewhere.stop()
    assert helped.text == "answered elsewhere"
    assert "Authorization" not in elsewhere.calls(PATH)[0].headers


async def test_a_slow_server_times_out_within_the_setting(chat: FakeChat):
    chat.fail(Fault(PATH, times=5, delay=2.0))
    helper = helper_for(chat, timeout_seconds=0.3)
    try:
        with pytest.raises(HelperTimeout) as caught:
            await helper.run(Task.ENHANCE, "a fox", user_id=1)
    finally:
        await helper.close()
    assert "0.3 s" in caught.value.user_message


@pytest.mark.parametrize(
    ("choice", "why"),
    [
        (said("", "content_filter"), FILTERED),
        (said("A fox, filtered halfway", "content_filter"), FILTERED),
        (
            {"message": {"role": "assistant", "content": None, "refusal": "I can't help."}},
            DECLINED,
        ),
        (
            {"message": {"content": [{"type": "refusal", "refusal": "No."}]}},
            DECLINED,
        ),
        (said(""), EMPTY),
        (said("   \n "), EMPTY),
        (said("```\n```"), EMPTY),
        (said("I'm sorry, but I can't help with that request."), DECLINED),
        (said("Sorry, I cannot create that."), DECLINED),
        (said("As an AI, I won't do this."), DECLINED),
        ({"message": "not a message"}, UNREADABLE),
    ],
)
async def test_a_refusal_filter_or_empty_answer_is_refused(
    chat: FakeChat, helper: PromptHelper, choice: dict[str, Any], why: str
):
    chat.reply = lambda _messages: choice
    with pytest.raises(HelperRefused) as caught:
        await helper.run(Task.ENHANCE, "a fox", user_id=1)
    assert caught.value.values == {"why": why}


async def test_sorry_inside_a_prompt_is_no_refusal(chat: FakeChat, helper: PromptHelper):
    chat.reply = lambda _messages: "A sorry-looking clown in the rain, I cannot stop smiling"
    helped = await helper.run(Task.ENHANCE, "sad clown", user_id=1)
    assert helped.text.startswith("A sorry-looking clown")


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b"[1, 2]", b'{"choices": []}', b'{"choices": "x"}']
)
async def test_a_malformed_answer_is_refused(chat: FakeChat, helper: PromptHelper, body: bytes):
    chat.fail(Fault(PATH, status=200, body=body, headers={"Content-Type": "application/json"}))
    with pytest.raises(HelperRefused) as caught:
        await helper.run(Task.ENHANCE, "a fox", user_id=1)
    assert caught.value.values == {"why": UNREADABLE}


async def test_content_as_a_list_of_parts_is_read(chat: FakeChat, helper: PromptHelper):
    parts = [{"type": "text", "text": "A fox "}, {"type": "text", "text": "at dawn"}]
    chat.reply = lambda _messages: {"message": {"role": "assistant", "content": parts}}
    assert (await helper.run(Task.ENHANCE, "a fox", user_id=1)).text == "A fox at dawn"


async def test_a_body_past_the_bound_is_not_read(chat: FakeChat, helper: PromptHelper):
    chat.reply = lambda _messages: "fox " * (MAX_BODY_BYTES // 4 + 10)
    with pytest.raises(HelperUnavailable):
        await helper.run(Task.ENHANCE, "a fox", user_id=1)


@pytest.mark.parametrize("status", [400, 401, 404, 500, 503])
async def test_an_error_answer_is_unavailable_and_the_log_never_shows_the_key(
    chat: FakeChat, status: int, caplog: pytest.LogCaptureFixture
):
    async def refuse(request: web.Request, body: Any) -> web.StreamResponse:
        return json_answer({"error": {"message": f"bad key {KEY}"}}, status)

    chat.route("POST", PATH, refuse)
    helper = helper_for(chat)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(HelperUnavailable) as caught:
            await helper.run(Task.ENHANCE, "a fox", user_id=1)
    finally:
        await helper.close()
    assert KEY not in caught.value.user_message
    assert KEY not in caplog.text and "prompt helper" in caplog.text


async def test_an_unreachable_server_is_unavailable():
    gone = FakeApi()
    await gone.start()
    url = gone.base
    await gone.stop()
    settings = PromptHelperSettings(enabled=True, base_url=f"{url}/v1", model="m")
    helper = PromptHelper(settings, None, max_prompt=1500)
    try:
        with pytest.raises(HelperUnavailable):
            await helper.run(Task.ENHANCE, "a fox", user_id=1)
    finally:
        await helper.close()


async def test_each_member_has_a_rate_per_minute(chat: FakeChat):
    helper = helper_for(chat, per_member_per_minute=2)
    try:
        await helper.run(Task.ENHANCE, "a", user_id=1)
        await helper.run(Task.ENHANCE, "b", user_id=1)
        with pytest.raises(HelperBusy) as caught:
            await helper.run(Task.ENHANCE, "c", user_id=1)
        await helper.run(Task.ENHANCE, "d", user_id=2)
        await helper.run(Task.TRANSLATE, "e", user_id=None)  # /imagine's own: not counted
    finally:
        await helper.close()
    assert caught.value.values["count"] == 2 and len(chat.asked) == 4


async def test_the_answer_is_cut_to_the_limit(chat: FakeChat, helper: PromptHelper):
    chat.reply = lambda _messages: "word " * 200
    helped = await helper.run(Task.SHORTEN, "long " * 300, user_id=1, limit=60)
    assert len(helped.text) <= 60 and helped.text.endswith("word")


async def test_english_is_not_sent_for_translation(chat: FakeChat, helper: PromptHelper):
    assert await helper.to_english("a castle on a hill at night with the moon") is None
    assert chat.asked == []
    chat.reply = lambda _messages: "a castle on a hill at night"
    helped = await helper.to_english("ein Schloss auf einem Hügel in der Nacht")
    assert helped is not None and helped.text == "a castle on a hill at night"
    assert chat.asked[0]["messages"][1]["content"] == "ein Schloss auf einem Hügel in der Nacht"


async def test_english_only_models_are_named_alone_or_with_their_provider():
    settings = PromptHelperSettings(english_only_models=("sd-turbo", "remote:flux"))
    helper = PromptHelper(settings, None, max_prompt=100)
    await helper.close()
    assert helper.english_only("local", "sd-turbo") and helper.english_only("remote", "flux")
    assert not helper.english_only("local", "flux")


async def test_waiting_for_a_free_slot_counts_against_the_time_limit(chat: FakeChat):
    # generous times: on a loaded machine a connection alone can take a good part of a second
    chat.fail(Fault(PATH, times=1, delay=4.0))
    helper = helper_for(chat, max_concurrent=1, timeout_seconds=2.0)
    try:
        results = await asyncio.gather(
            helper.run(Task.ENHANCE, "a", user_id=1),
            helper.run(Task.ENHANCE, "b", user_id=2),
            return_exceptions=True,
        )
    finally:
        await helper.close()
    assert all(isinstance(result, HelperTimeout) for result in results), results
    assert len(chat.asked) == 1  # the second never reached the server


async def test_an_answer_echoing_the_key_is_logged_without_it(
    chat: FakeChat, caplog: pytest.LogCaptureFixture
):
    # a careless proxy that answers with the request's headers instead of choices
    chat.reply = lambda _messages: {}

    async def echo(request: web.Request, body: Any) -> web.StreamResponse:
        return json_answer({"headers": {"authorization": request.headers["Authorization"]}})

    chat.route("POST", PATH, echo)
    caplog.set_level(logging.DEBUG)
    helper = helper_for(chat)
    try:
        with pytest.raises(HelperRefused):
            await helper.run(Task.ENHANCE, "a fox", user_id=1)
    finally:
        await helper.close()
    assert "no choices" in caplog.text
    assert KEY not in caplog.text
