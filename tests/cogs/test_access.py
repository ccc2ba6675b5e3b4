"""Who may act where: user installs and /admin, whom posts ping, /show in another place,
where reports go, and replayed modal submits."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from bot.jobs import JobStatus
from cogs import render
from tests.cogs.conftest import (
    ADULT,
    ALICE,
    BOB,
    ELSEWHERE,
    ELSEWHERE_CHANNEL,
    GENERAL,
    GUILD,
    MOD,
    World,
    open_world,
)
from tests.cogs.test_imagine import is_result, result_mention, result_of, result_prompt
from tests.cogs.test_results import imagine
from tests.fakes.discord import FakeMessage

OWNER = 300
HOSTILE_PROMPT = "<@202> <@!203> <@&100> @everyone @here **loud** [link](https://evil.example)"


@pytest.fixture
async def owned_world(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    async with open_world(tmp_path, discord={"owner_ids": [OWNER]}) as world:
        world.fake.add_user(OWNER, "owner")
        yield world


async def text_of(interaction) -> str:  # type: ignore[no-untyped-def]
    await interaction.wait(
        lambda i: (
            bool(i.original and (i.original.content or i.original.embeds))
            or any(r.get("data", {}).get("content") for r in i.responses)
        )
    )
    message = interaction.original
    return message.content if message else interaction.responses[0]["data"]["content"]


# Item 4: user installs


def test_admin_is_offered_only_where_a_server_installed_the_bot(world: World):
    admin = next(c for c in world.fake.synced if c["name"] == "admin")
    assert admin["integration_types"] == [0]  # the guild install only
    assert sorted(admin["contexts"]) == [0, 1]  # servers, and the bot's own DMs (the owner)


async def test_admin_through_a_user_install_in_a_server_without_the_bot_is_refused(
    world: World,
):
    # Alice owns a server the bot is not in; her own install of the app carries her
    # permissions there (all of them), and she sends /admin as if a client offered it.
    world.fake.add_outside_member(ELSEWHERE, ALICE, permissions=discord.Permissions.all())
    interaction = await world.fake.invoke(
        "admin quota default",
        {"daily_units": 100_000},
        user=ALICE,
        channel=ELSEWHERE_CHANNEL,
        installed_by_user=True,
        forged=True,
    )
    assert "servers that added the bot" in await text_of(interaction)
    assert interaction.ephemeral
    assert await world.runtime.policies.guild_units(ELSEWHERE) is None
    assert await world.runtime.db.fetchall("SELECT * FROM audit_log") == []


async def test_the_owner_is_not_a_moderator_through_a_user_install_either(owned_world: World):
    world = owned_world
    interaction = await world.fake.invoke(
        "admin quota default",
        {"daily_units": 7},
        user=OWNER,
        channel=ELSEWHERE_CHANNEL,
        installed_by_user=True,
        forged=True,
    )
    assert "servers that added the bot" in await text_of(interaction)
    assert await world.runtime.policies.guild_units(ELSEWHERE) is None


# Item 8: mentions


async def test_a_prompt_with_mentions_pings_only_the_requester(world: World):
    result = await result_of(world, await imagine(world, HOSTILE_PROMPT))
    assert result.via == "channel"
    assert result.pinged == {f"user:{ALICE}"}
    assert "<@202>" not in result_mention(result) and "@everyone" not in result_mention(result)
    description = result_prompt(result)
    assert "<@202>" not in description and "**loud**" not in description
    assert "\\*\\*loud\\*\\*" in description  # shown as typed, not as markdown
    assert all(not message.pinged - {f"user:{ALICE}"} for message in world.fake.messages)


async def test_a_follow_up_result_pings_only_the_requester(world: World):
    interaction = await world.fake.invoke(
        "imagine",
        {"prompt": HOSTILE_PROMPT},
        user=ALICE,
        channel=ELSEWHERE_CHANNEL,
        installed_by_user=True,
    )
    result = await result_of(world, interaction)
    assert result.via == "followup"
    assert result.pinged <= {f"user:{ALICE}"}
    assert "<@202>" not in result_prompt(result)


async def test_the_bot_pings_nobody_unless_it_says_whom(world: World):
    assert world.bot.allowed_mentions is not None
    assert world.bot.allowed_mentions.to_dict() == {"parse": []}


async def test_a_provider_error_is_shown_escaped(world: World):
    await result_of(world, await imagine(world))
    job = await world.runtime.store.get(1)
    assert job is not None
    failed = dataclasses.replace(
        job, status=JobStatus.FAILED, error="<@202> said **no** @everyone."
    )
    line = render.ended_line(failed)
    assert "<@202>" not in line and "@everyone" not in line and "**no**" not in line


# Item 15: the Remix modal


async def test_a_remix_submit_replayed_while_it_is_handled_is_acted_on_once(
    world: World, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="bot.app")
    result = await result_of(world, await imagine(world))
    clicked = await world.fake.click(result.id, "img:m:1:0", user=ALICE)
    await clicked.response()
    # The first answer is rate limited, so the first submit is still being handled (waiting
    # to retry) when the same interaction arrives again; the retry still answers within
    # Discord's 3 s.
    world.fake.fail_next("POST", r"/interactions/\d+/[^/]+/callback$", status=429, retry_after=1.5)
    submitted = await world.fake.submit_modal(clicked, {"prompt": "a fox in snow"})
    await world.fake.wait_for(lambda: any(r.status == 429 for r in world.fake.requests))
    await world.fake.replay(submitted)
    await world.fake.wait_for(
        lambda: any(
            f"Interaction {submitted.id} arrived again" in r.message for r in caplog.records
        )
    )
    await result_of(world, submitted)
    assert len(await world.jobs()) == 2
    assert not world.fake.violations


# Item 6: /show


async def show(world: World, job: int, *, channel: int, **options: object) -> str:
    interaction = await world.fake.invoke(
        "show", {"job": job}, user=ALICE, channel=channel, **options
    )  # type: ignore[arg-type]
    return await text_of(interaction)


async def test_show_of_an_nsfw_model_result_is_refused_where_nsfw_is_not_allowed(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, fake={"nsfw_models": ["spicy"]}) as world:
        made = await world.fake.invoke(
            "imagine", {"prompt": "x", "model": "fake:spicy"}, user=ALICE, channel=ADULT
        )
        await result_of(world, made)
        posts = [results_in(world, channel) for channel in (GENERAL, ELSEWHERE_CHANNEL)]
        assert "NSFW" in await show(world, 1, channel=GENERAL)
        assert "NSFW" in await show(world, 1, channel=world.fake.dm_channel_of(ALICE))
        elsewhere = await show(world, 1, channel=ELSEWHERE_CHANNEL, installed_by_user=True)
        assert "NSFW" in elsewhere
        assert [results_in(world, c) for c in (GENERAL, ELSEWHERE_CHANNEL)] == posts
        again = await world.fake.invoke("show", {"job": 1}, user=ALICE, channel=ADULT)
        await again.wait(lambda i: is_result(i.original))


async def test_show_meets_the_bans_terms_and_switched_off_models_of_where_it_is_used(
    world: World,
):
    await result_of(world, await imagine(world, "a red dragon"))
    runtime = world.runtime
    posts = results_in(world, GENERAL)
    await runtime.moderation.add_term(GUILD, "dragon", regex=False, actor_id=MOD)
    assert "dragon" in await show(world, 1, channel=GENERAL)
    await runtime.moderation.remove_term(GUILD, "dragon", actor_id=MOD)

    await runtime.policies.set_content(GUILD, {"disabled_models": ["fake-v1"]})
    assert "switched on here" in await show(world, 1, channel=GENERAL)
    await runtime.policies.set_content(GUILD, {"disabled_models": []})

    await runtime.moderation.ban(
        ALICE, guild_id=GUILD, actor_id=MOD, reason="spam", expires_at=None
    )
    assert "can't be shown here" in await show(world, 1, channel=GENERAL)
    assert results_in(world, GENERAL) == posts


def results_in(world: World, channel: int) -> int:
    return sum(
        1
        for message in world.fake.channel_messages(channel, include_ephemeral=False)
        if is_result(message)
    )


# Item 12: reports


OTHER = 120  # a second server with the bot
OTHER_CHANNEL = 121
OTHER_REPORTS = 122
GUILD_REPORTS = 110
OTHER_MOD = 204


async def test_a_report_on_a_repost_goes_to_the_moderators_where_it_was_seen(world: World):
    fake, runtime = world.fake, world.runtime
    fake.add_guild(OTHER, name="other club")
    fake.add_channel(OTHER_CHANNEL, guild_id=OTHER, name="general")
    fake.add_channel(OTHER_REPORTS, guild_id=OTHER, name="reports")
    fake.add_channel(GUILD_REPORTS, guild_id=GUILD, name="reports")
    for user in (ALICE, BOB):
        fake.add_member(OTHER, user)
    fake.add_member(OTHER, OTHER_MOD, permissions=discord.Permissions(manage_guild=True))
    await runtime.policies.set_guild_setting(GUILD, "report_channel", GUILD_REPORTS)
    await runtime.policies.set_guild_setting(OTHER, "report_channel", OTHER_REPORTS)
    original = await result_of(world, await imagine(world, "a cat"))

    shown = await fake.invoke("show", {"job": 1}, user=ALICE, channel=OTHER_CHANNEL)
    await shown.wait(lambda i: is_result(i.original))
    repost = shown.original
    assert repost is not None
    reported = await fake.click(repost.id, "img:p:1:0", user=BOB)
    await reported.wait(lambda i: bool(i.original and "Thank you" in i.original.content))
    await fake.wait_for(lambda: bool(reports_in(world, OTHER_REPORTS)))
    [report] = reports_in(world, OTHER_REPORTS)
    assert reports_in(world, GUILD_REPORTS) == []

    deleted = await fake.click(report.id, "report:delete:1", user=OTHER_MOD)
    await deleted.wait(lambda i: bool(i.original and "deleted" in i.original.content))
    assert repost.deleted and not original.deleted  # only in the moderators' own server

    again = await fake.invoke("show", {"job": 1}, user=ALICE, channel=OTHER_CHANNEL)
    await again.wait(lambda i: is_result(i.original))
    assert again.original is not None
    reported = await fake.click(again.original.id, "img:p:1:0", user=OTHER_MOD)
    await reported.wait(lambda i: bool(i.original and "Thank you" in i.original.content))
    await fake.wait_for(lambda: len(reports_in(world, OTHER_REPORTS)) == 2)
    second = reports_in(world, OTHER_REPORTS)[1]
    banned = await fake.click(second.id, "report:ban:2", user=OTHER_MOD)
    await banned.wait(lambda i: bool(i.original and "no longer" in i.original.content))
    assert await runtime.moderation.active_ban(ALICE, OTHER) is not None
    assert await runtime.moderation.active_ban(ALICE, GUILD) is None
    assert not fake.violations


def reports_in(world: World, channel: int) -> list[FakeMessage]:
    return world.fake.channel_messages(channel, include_ephemeral=False)
