"""Saved styles through the fake Discord: /style, /admin style, the default in /settings, and
a style applied to the job /imagine queues."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.jobs import Job
from bot.styles import Scope
from tests.cogs.conftest import (
    ALICE,
    BOB,
    ELSEWHERE_CHANNEL,
    GENERAL,
    GUILD,
    MOD,
    World,
    open_world,
)
from tests.cogs.test_imagine import JOB
from tests.fakes.discord import FakeInteraction


@pytest.fixture
async def world(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    async with open_world(tmp_path, limits={"max_styles_per_member": 3}) as opened:
        opened.fake.add_member(
            GUILD, MOD, permissions=discord.Permissions(manage_guild=True, manage_messages=True)
        )
        yield opened


async def reply(
    world: World,
    command: str,
    options: dict[str, Any] | None = None,
    *,
    user: int = ALICE,
    channel: int = GENERAL,
    **place: Any,
) -> str:
    interaction = await world.fake.invoke(
        command, options or {}, user=user, channel=channel, **place
    )
    await interaction.wait(
        lambda i: (
            bool(i.original and (i.original.content or i.original.embeds))
            or any(r.get("data", {}).get("content") for r in i.responses)
        )
    )
    assert interaction.ephemeral
    message = interaction.original
    if message is None:
        return str(interaction.responses[0]["data"]["content"])
    text = message.content
    for embed in message.embeds:
        text += "\n" + embed.get("title", "") + "\n" + embed.get("description", "")
    return text


async def queued(world: World, interaction: FakeInteraction) -> Job:
    await interaction.wait(lambda i: bool(i.original and JOB.search(i.original.content)))
    found = JOB.search(interaction.original.content)  # type: ignore[union-attr]
    assert found is not None
    job = await world.runtime.store.get(int(found[1]))
    assert job is not None
    return job


async def refused(world: World, interaction: FakeInteraction) -> str:
    await interaction.wait(lambda i: bool(i.original and i.original.content))
    text = interaction.original.content  # type: ignore[union-attr]
    assert not JOB.search(text)
    return text


def imagine(world: World, prompt: str = "a castle", *, user: int = ALICE, **options: Any):
    return world.fake.invoke("imagine", {"prompt": prompt, **options}, user=user, channel=GENERAL)


async def test_save_list_and_delete_a_style(world: World):
    text = await reply(
        world, "style save", {"name": "Moody", "prompt": "dark, {prompt}", "negative": "bright"}
    )
    assert "Saved your style `moody`" in text
    assert "Replaced" in await reply(world, "style save", {"name": "moody", "prompt": "dark"})
    listed = await reply(world, "style list")
    assert "Your styles (1 of 3)" in listed and "`moody`" in listed
    assert "This server's styles (0 of 25)" in listed

    choices = await world.fake.autocomplete(
        "style delete", {"name": "mo"}, focused="name", user=ALICE, channel=GENERAL
    )
    assert [c["value"] for c in choices] == ["moody"]
    assert "no style named" in await reply(world, "style delete", {"name": "moody"}, user=BOB)
    assert "Deleted your style `moody`" in await reply(world, "style delete", {"name": "MOODY"})
    assert await world.runtime.styles.styles(Scope.MEMBER, ALICE) == []


async def test_a_bad_name_and_the_cap_are_refused(world: World):
    text = await reply(world, "style save", {"name": "two words", "prompt": "x"})
    assert "can't be a style name" in text
    for name in ("a", "b", "c"):
        await reply(world, "style save", {"name": name, "prompt": "x"})
    assert "You have 3 saved styles, the most allowed" in await reply(
        world, "style save", {"name": "d", "prompt": "x"}
    )
    assert "Replaced" in await reply(world, "style save", {"name": "c", "prompt": "y"})


async def test_the_style_option_applies_to_the_queued_job(world: World):
    await reply(
        world,
        "style save",
        {"name": "poster", "prompt": "vintage poster of {prompt}, grainy", "negative": "blurry"},
    )
    job = await queued(world, await imagine(world, "a fox", style="Poster", negative="text"))
    assert job.request.prompt == "vintage poster of a fox, grainy"
    assert job.request.negative_prompt == "text, blurry"


async def test_an_unknown_style_is_refused_with_close_names(world: World):
    await reply(world, "style save", {"name": "moody", "prompt": "dark"})
    text = await refused(world, await imagine(world, style="mooody"))
    assert "There is no style `mooody` here. Did you mean `moody`?" in text
    assert await world.jobs() == []


async def test_the_default_style_applies_unless_another_is_named(world: World):
    await reply(world, "style save", {"name": "moody", "prompt": "dark"})
    await reply(world, "style save", {"name": "bright", "prompt": "sunny"})
    assert "no style `nope`" in await reply(world, "settings", {"style": "nope"})
    text = await reply(world, "settings", {"style": "Moody"})
    assert "Default style: `moody`" in text
    choices = await world.fake.autocomplete(
        "settings", {"style": ""}, focused="style", user=ALICE, channel=GENERAL
    )
    assert [c["value"] for c in choices] == ["-", "bright", "moody"]

    assert (await queued(world, await imagine(world))).request.prompt == "a castle, dark"
    named = await queued(world, await imagine(world, style="bright"))
    assert named.request.prompt == "a castle, sunny"
    assert (await queued(world, await imagine(world, user=BOB))).request.prompt == "a castle"
    # "-": no style this time, not even the default
    offered = await world.fake.autocomplete(
        "imagine", {"prompt": "x", "style": ""}, focused="style", user=ALICE, channel=GENERAL
    )
    assert [c["value"] for c in offered] == ["-", "bright", "moody"]
    plain = await queued(world, await imagine(world, style="-"))
    assert plain.request.prompt == "a castle"
    plain = await queued(world, await imagine(world, "a castle --style -"))
    assert plain.request.prompt == "a castle"

    await reply(world, "settings", {"style": "-"})
    assert (await world.runtime.members.preferences(ALICE)).style is None
    assert (await queued(world, await imagine(world))).request.prompt == "a castle"


async def test_server_styles_are_for_everyone_there_and_a_members_own_shadows_them(
    world: World,
):
    text = await reply(world, "admin style save", {"name": "ink", "prompt": "ink wash"}, user=MOD)
    assert "Saved the server style `ink`" in text
    assert "`ink`" in await reply(world, "admin style list", user=MOD)
    assert "Only moderators" in await reply(
        world, "admin style save", {"name": "x", "prompt": "y"}, user=BOB
    )
    entries = await world.runtime.moderation.audit(GUILD)
    assert [e.action for e in entries.entries] == ["style.save"]

    bob = await queued(world, await imagine(world, user=BOB, style="ink"))
    assert bob.request.prompt == "a castle, ink wash"
    await reply(world, "style save", {"name": "ink", "prompt": "alice's ink"})
    alice = await queued(world, await imagine(world, style="ink"))
    assert alice.request.prompt == "a castle, alice's ink"

    choices = await world.fake.autocomplete(
        "imagine", {"prompt": "x", "style": ""}, focused="style", user=BOB, channel=GENERAL
    )
    assert [(c["value"], c["name"]) for c in choices] == [("ink", "ink (server): ink wash")]

    assert "Deleted the server style" in await reply(
        world, "admin style delete", {"name": "ink"}, user=MOD
    )
    text = await refused(world, await imagine(world, user=BOB, style="ink"))
    assert "no style `ink`" in text


async def test_styles_in_dms_and_user_installs_are_the_members_own(world: World):
    await reply(world, "admin style save", {"name": "ink", "prompt": "ink wash"}, user=MOD)
    dm = world.fake.dm_channel_of(ALICE)
    assert "Saved" in await reply(world, "style save", {"name": "mine", "prompt": "x"}, channel=dm)
    listed = await reply(world, "style list", channel=dm)
    assert "`mine`" in listed and "server's styles" not in listed
    elsewhere = await reply(
        world,
        "style save",
        {"name": "away", "prompt": "y"},
        channel=ELSEWHERE_CHANNEL,
        installed_by_user=True,
    )
    assert "Saved" in elsewhere
    listed = await reply(world, "style list", channel=ELSEWHERE_CHANNEL, installed_by_user=True)
    assert "`away`" in listed and "server's styles" not in listed
    names = [s.name for s in await world.runtime.styles.usable(None, ALICE)]
    assert names == ["away", "mine"]
    text = await refused(
        world,
        await world.fake.invoke("imagine", {"prompt": "x", "style": "ink"}, user=ALICE, channel=dm),
    )
    assert "no style `ink`" in text


async def test_blocked_terms_apply_when_saved_and_when_used(world: World):
    await reply(world, "admin terms add", {"pattern": "gore"}, user=MOD)
    text = await reply(world, "style save", {"name": "grim", "prompt": "lots of gore"})
    assert "contains a blocked term (gore), so it was not saved" in text
    text = await reply(world, "style save", {"name": "grim", "prompt": "dark", "negative": "gore"})
    assert "negative prompt contains a blocked term" in text
    assert await world.runtime.styles.styles(Scope.MEMBER, ALICE) == []

    await reply(world, "style save", {"name": "grim", "prompt": "blood"})
    await reply(world, "admin terms add", {"pattern": "blood"}, user=MOD)
    text = await refused(world, await imagine(world, style="grim"))
    assert "blocked term (blood)" in text
    assert await world.jobs() == []


async def test_a_styles_parameters_are_checked_when_saved(world: World):
    text = await reply(
        world, "style save", {"name": "wide", "prompt": "x", "parameters": "--arr 16:9"}
    )
    assert "--arr" in text and "--ar" in text
    text = await reply(
        world, "style save", {"name": "wide", "prompt": "x", "parameters": "--repeat 4"}
    )
    assert "A style can't carry --repeat" in text
    assert await world.runtime.styles.styles(Scope.MEMBER, ALICE) == []
    text = await reply(
        world,
        "style save",
        {"name": "wide", "prompt": "film still --no text", "parameters": "--AR 21:9"},
    )
    assert "Its parameters: `--ar 21:9 --no text`" in text
    [style] = await world.runtime.styles.styles(Scope.MEMBER, ALICE)
    assert (style.prompt, style.params) == ("film still", "--ar 21:9 --no text")
    assert "`--ar 21:9 --no text`" in await reply(world, "style list")


async def said(interaction: FakeInteraction, words: str) -> str:
    await interaction.wait(lambda i: any(words in (m.content or "") for m in i.messages), 15)
    return "\n".join(m.content or "" for m in interaction.messages)


async def test_a_styles_parameters_apply_under_the_members_and_the_options(world: World):
    await reply(
        world,
        "style save",
        {
            "name": "wide",
            "prompt": "film still",
            "negative": "grain",
            "parameters": "--ar 16:9 --steps 30 --seed 5 --no blur",
        },
    )
    asked = await imagine(world, "a castle --steps 12 --no people", style="wide", seed=11)
    job = await queued(world, asked)
    request = job.request
    assert request.prompt == "a castle, film still"
    assert request.steps == 12  # the member's inline parameter wins over the style's
    assert request.seed == 11  # the option wins over both
    assert request.size == (704, 384)  # the style's --ar 16:9
    assert request.negative_prompt == "blur, people, grain"
    # only the member's own parameters are named as overridden
    assert not any("ignored" in (m.content or "") for m in asked.messages)


async def test_inline_style_applies_and_the_style_option_wins_over_it(world: World):
    await reply(world, "style save", {"name": "moody", "prompt": "dark"})
    await reply(world, "style save", {"name": "bright", "prompt": "sunny"})
    job = await queued(world, await imagine(world, "a fox --style Moody"))
    assert job.request.prompt == "a fox, dark"
    asked = await imagine(world, "a fox --style moody", style="bright")
    assert (await queued(world, asked)).request.prompt == "a fox, sunny"
    assert "--style moody ignored: the style option was given" in await said(asked, "ignored")
    text = await refused(world, await imagine(world, "a fox --style nope"))
    assert "There is no style `nope` here" in text


async def test_each_permutation_gets_the_style(world: World):
    await reply(world, "style save", {"name": "poster", "prompt": "poster of {prompt}"})
    asked = await imagine(world, "a {red, blue} bird --style poster")
    text = await said(asked, "Queue them?")
    assert "poster of a red bird" in text and "poster of a blue bird" in text
    assert asked.original is not None
    queue = next(
        c["custom_id"]
        for row in asked.original.components
        for c in row["components"]
        if c.get("label", "").startswith("Queue 2 jobs")
    )
    await world.fake.click(asked.original.id, queue, user=ALICE)
    for _ in range(200):
        if len(await world.jobs()) == 2:
            break
        await asyncio.sleep(0.05)
    jobs = [await world.runtime.store.get(row["job_id"]) for row in await world.jobs()]
    prompts = [job.request.prompt for job in jobs if job is not None]
    assert prompts == ["poster of a red bird", "poster of a blue bird"]


async def test_the_sfw_word_list_applies_where_a_style_is_used(world: World):
    """Saving checks the blocked terms only; the built-in SFW list is the channel's to apply."""
    assert "Saved" in await reply(world, "style save", {"name": "racy", "prompt": "nude"})
    text = await refused(world, await imagine(world, style="racy"))
    assert "blocked term (nude)" in text
    assert await world.jobs() == []


async def test_the_issues_example_makes_two_jobs_with_sizes_negatives_and_style(world: World):
    await reply(
        world, "style save", {"name": "moody", "prompt": "dark, moody light", "negative": "sunny"}
    )
    asked = await imagine(world, "a castle --ar 16:9 --no people --style moody {day, night}")
    await said(asked, "Queue them?")
    assert asked.original is not None
    queue = next(
        c["custom_id"]
        for row in asked.original.components
        for c in row["components"]
        if c.get("label", "").startswith("Queue 2 jobs")
    )
    await world.fake.click(asked.original.id, queue, user=ALICE)
    for _ in range(200):
        if len(await world.jobs()) == 2:
            break
        await asyncio.sleep(0.05)
    jobs = [await world.runtime.store.get(row["job_id"]) for row in await world.jobs()]
    requests = [job.request for job in jobs if job is not None]
    assert [r.prompt for r in requests] == [
        "a castle day, dark, moody light",
        "a castle night, dark, moody light",
    ]
    assert [r.size for r in requests] == [(704, 384), (704, 384)]
    assert [r.negative_prompt for r in requests] == ["people, sunny", "people, sunny"]
