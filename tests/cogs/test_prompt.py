"""/prompt through the fake Discord, with the helper on a fake chat server: the private reply
and its buttons, the checks on the helper's words, its failures, and /imagine translating for
a model that reads only English."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.cogs.conftest import ALICE, BOB, GENERAL, GUILD, MOD, World, open_world
from tests.cogs.test_imagine import buttons, labels, result_fields, result_of
from tests.fakes.chat_api import PATH, FakeChat, said
from tests.fakes.discord import FakeInteraction
from tests.fakes.discord.model import FakeMessage
from tests.fakes.http_api import Fault

FOX = "A red fox in a snowy birch forest at dawn, soft golden light"


@asynccontextmanager
async def helped_world(
    tmp_path: Path, reply: str = FOX, **helper: Any
) -> AsyncIterator[tuple[World, FakeChat]]:
    chat = FakeChat(reply)
    await chat.start()
    options = {"enabled": True, "base_url": chat.url, "model": "fake-chat", **helper}
    try:
        async with open_world(tmp_path, prompt_helper=options) as world:
            yield world, chat
    finally:
        await chat.stop()


async def reply_of(interaction: FakeInteraction, words: str) -> FakeMessage:
    await interaction.wait(lambda i: bool(i.original and words in i.original.content), 15)
    assert interaction.original is not None and interaction.ephemeral
    return interaction.original


def button(message: FakeMessage, label: str) -> str:
    for row in message.components:
        for component in row.get("components", []):
            if component.get("label") == label:
                return str(component["custom_id"])
    raise AssertionError(f"no {label!r} button among {labels(message)}")


async def enhance(world: World, idea: str = "a fox", user: int = ALICE) -> FakeInteraction:
    return await world.fake.invoke("prompt enhance", {"idea": idea}, user=user, channel=GENERAL)


async def test_enhance_replies_privately_and_imagine_this_queues_the_enhanced_prompt(
    tmp_path: Path, redirect: None
):
    async with helped_world(tmp_path) as (world, chat):
        reply = await reply_of(await enhance(world), "Enhanced prompt")
        assert FOX in reply.content
        assert labels(reply) == ["Imagine this", "Use original", "Enhance"]
        assert chat.asked[0]["messages"][1]["content"] == "a fox"
        assert await world.jobs() == []  # nothing queued before the member picks
        clicked = await world.fake.click(reply.id, button(reply, "Imagine this"), user=ALICE)
        await result_of(world, clicked)
        [job] = await world.jobs()
        assert json.loads(job["request"])["prompt"] == FOX and job["user_id"] == ALICE
        assert await world.used(ALICE) > 0
        assert not world.fake.violations


async def test_use_original_queues_the_members_own_words(tmp_path: Path, redirect: None):
    async with helped_world(tmp_path) as (world, _chat):
        reply = await reply_of(await enhance(world, "a small fox"), "Enhanced prompt")
        clicked = await world.fake.click(reply.id, button(reply, "Use original"), user=ALICE)
        await result_of(world, clicked)
        [job] = await world.jobs()
        assert json.loads(job["request"])["prompt"] == "a small fox"


async def test_enhance_again_works_on_the_shown_prompt(tmp_path: Path, redirect: None):
    async with helped_world(tmp_path) as (world, chat):
        reply = await reply_of(await enhance(world), "Enhanced prompt")
        chat.reply = lambda _messages: "An even finer fox"
        clicked = await world.fake.click(reply.id, button(reply, "Enhance"), user=ALICE)
        again = await reply_of(clicked, "An even finer fox")
        assert chat.asked[1]["messages"][1]["content"] == FOX
        use = await world.fake.click(again.id, button(again, "Use original"), user=ALICE)
        await result_of(world, use)
        [job] = await world.jobs()
        assert json.loads(job["request"])["prompt"] == "a fox"


async def test_imagine_this_meets_the_same_quota_as_imagine(tmp_path: Path, redirect: None):
    chat = FakeChat(FOX)
    await chat.start()
    helper = {"enabled": True, "base_url": chat.url, "model": "fake-chat"}
    try:
        async with open_world(tmp_path, prompt_helper=helper, quota={"daily_units": 0}) as world:
            reply = await reply_of(await enhance(world), "Enhanced prompt")
            clicked = await world.fake.click(reply.id, button(reply, "Imagine this"), user=ALICE)
            refused = await reply_of(clicked, "quota")
            assert "0 of" in refused.content or "quota unit" in refused.content
            assert await world.jobs() == []
    finally:
        await chat.stop()


async def test_a_blocked_suggestion_is_refused_and_never_shown(tmp_path: Path, redirect: None):
    async with helped_world(tmp_path, reply="a fox next to a dragon") as (world, _chat):
        await world.runtime.moderation.add_term(GUILD, "dragon", regex=False, actor_id=MOD)
        reply = await reply_of(await enhance(world), "blocked here")
        assert "dragon" not in reply.content and reply.components == []
        assert await world.jobs() == []
        [entry] = await world.runtime.db.fetchall(
            "SELECT action FROM audit_log WHERE action = 'prompt.blocked'"
        )
        assert entry["action"] == "prompt.blocked"


async def test_blocked_words_of_the_member_never_reach_the_helper(tmp_path: Path, redirect: None):
    async with helped_world(tmp_path) as (world, chat):
        await world.runtime.moderation.add_term(GUILD, "dragon", regex=False, actor_id=MOD)
        reply = await reply_of(await enhance(world, "a dragon"), "blocked term")
        assert reply.components == [] and chat.asked == []


async def test_a_slow_helper_is_a_clear_message(tmp_path: Path, redirect: None):
    async with helped_world(tmp_path, timeout_seconds=0.3) as (world, chat):
        chat.fail(Fault(PATH, times=3, delay=2.0))
        reply = await reply_of(await enhance(world), "didn't answer within 0.3 s")
        assert reply.components == [] and await world.jobs() == []


async def test_a_refusing_model_is_a_clear_message(tmp_path: Path, redirect: None):
    async with helped_world(tmp_path) as (world, chat):
        chat.reply = lambda _messages: said("", "content_filter")
        reply = await reply_of(await enhance(world), "no usable answer")
        assert "content filter" in reply.content and reply.components == []


async def test_the_rate_per_member_holds(tmp_path: Path, redirect: None):
    async with helped_world(tmp_path, per_member_per_minute=1) as (world, chat):
        await reply_of(await enhance(world), "Enhanced prompt")
        await reply_of(await enhance(world), "in the last minute")
        await reply_of(await enhance(world, user=BOB), "Enhanced prompt")
        assert len(chat.asked) == 2


async def test_translate_and_shorten(tmp_path: Path, redirect: None):
    async with helped_world(tmp_path, reply="a castle on a hill") as (world, chat):
        asked = await world.fake.invoke(
            "prompt translate", {"text": "ein Schloss auf einem Hügel"}, user=ALICE, channel=GENERAL
        )
        assert "a castle on a hill" in (await reply_of(asked, "In English")).content
        same = await world.fake.invoke(
            "prompt translate", {"text": "a castle on a hill"}, user=ALICE, channel=GENERAL
        )
        await reply_of(same, "English already")
        short = await world.fake.invoke(
            "prompt shorten", {"text": "a castle " * 100, "length": 60}, user=ALICE, channel=GENERAL
        )
        await reply_of(short, "Shortened prompt (18 characters)")
        assert "60 characters" in chat.asked[2]["messages"][0]["content"]


async def test_prompt_is_not_offered_while_the_helper_is_off(world: World):
    names = {command["name"] for command in world.fake.synced}
    assert "imagine" in names and "prompt" not in names


async def test_prompt_offers_its_three_commands_when_on(tmp_path: Path, redirect: None):
    async with helped_world(tmp_path) as (world, _chat):
        [prompt] = [command for command in world.fake.synced if command["name"] == "prompt"]
        assert [option["name"] for option in prompt["options"]] == [
            "enhance",
            "translate",
            "shorten",
        ]


@pytest.mark.parametrize("fails", [False, True])
async def test_imagine_translates_for_an_english_only_model(
    tmp_path: Path, redirect: None, fails: bool
):
    async with helped_world(
        tmp_path, reply="a castle on a hill", english_only_models=["fake:fake-v1"]
    ) as (world, chat):
        if fails:
            chat.fail(Fault(PATH, times=3, status=500))
        german = "ein Schloss auf einem Hügel"
        interaction = await world.fake.invoke(
            "imagine", {"prompt": german}, user=ALICE, channel=GENERAL
        )
        result = await result_of(world, interaction)
        [job] = await world.jobs()
        prompt, target = json.loads(job["request"])["prompt"], json.loads(job["target"])
        fields = result_fields(result)
        if fails:
            assert prompt == german and target["untranslated"] is True
            assert "Not translated" in fields
        else:
            assert prompt == "a castle on a hill" and target["translated_from"] == german
            assert fields["Translated from"] == german
        english = await world.fake.invoke(
            "imagine", {"prompt": "a castle at night"}, user=ALICE, channel=GENERAL
        )
        await result_of(world, english)
        assert len(chat.calls(PATH)) == (2 if fails else 1)  # English is never sent


async def test_enhance_under_a_result_offers_the_jobs_prompt_enhanced(
    tmp_path: Path, redirect: None
):
    async with helped_world(tmp_path) as (world, chat):
        asked = await world.fake.invoke("imagine", {"prompt": "a fox"}, user=ALICE, channel=GENERAL)
        result = await result_of(world, asked)
        assert "img:h:1:0" in buttons(result)
        clicked = await world.fake.click(result.id, "img:h:1:0", user=ALICE)
        reply = await reply_of(clicked, "Enhanced prompt")
        assert chat.asked[0]["messages"][1]["content"] == "a fox"
        again = await world.fake.click(reply.id, button(reply, "Imagine this"), user=ALICE)
        await result_of(world, again)
        assert [json.loads(job["request"])["prompt"] for job in await world.jobs()] == [
            "a fox",
            FOX,
        ]


async def test_no_enhance_under_a_result_while_the_helper_is_off(world: World):
    asked = await world.fake.invoke("imagine", {"prompt": "a fox"}, user=ALICE, channel=GENERAL)
    result = await result_of(world, asked)
    assert "Enhance" not in labels(result)
