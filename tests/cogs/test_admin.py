"""/admin and /status through the fake Discord: each change, its audit row, who may do it."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest
from PIL import Image

from bot.jobs import JobStatus
from tests.cogs.conftest import ADULT, ALICE, BOB, GENERAL, GUILD, MOD, World, open_world
from tests.cogs.test_imagine import buttons, result_of
from tests.cogs.test_results import held, imagine

OWNER = 300
ARTIST = 400  # a role with its own tier
REPORTS = 110
LOGS = 111


@pytest.fixture
async def admin_world(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    async with open_world(tmp_path, discord={"owner_ids": [OWNER]}) as world:
        fake = world.fake
        fake.add_channel(REPORTS, guild_id=GUILD, name="reports")
        fake.add_channel(LOGS, guild_id=GUILD, name="bot-log")
        fake.add_role(GUILD, ARTIST, name="artist")
        fake.add_user(OWNER, "owner")
        fake.add_member(GUILD, OWNER)
        moderator = discord.Permissions(manage_guild=True, manage_messages=True)
        fake.add_member(GUILD, MOD, permissions=moderator)
        yield world


async def run(
    world: World, command: str, options: dict[str, Any] | None = None, *, user: int = MOD
) -> str:
    interaction = await world.fake.invoke(
        f"admin {command}" if command != "status" else command,
        options or {},
        user=user,
        channel=GENERAL,
    )
    await interaction.wait(
        lambda i: (
            bool(i.original and (i.original.content or i.original.embeds))
            or any(r.get("data", {}).get("content") for r in i.responses)
        )
    )
    assert interaction.ephemeral
    message = interaction.original
    text = message.content if message else interaction.responses[0]["data"]["content"]
    for embed in message.embeds if message else []:
        text += "\n" + embed.get("description", "") + "\n"
        text += "\n".join(f"{f['name']}: {f['value']}" for f in embed.get("fields", []))
    return text


async def actions(world: World) -> list[str]:
    rows = await world.runtime.db.fetchall("SELECT action FROM audit_log ORDER BY entry_id")
    return [row["action"] for row in rows]


def test_admin_is_hidden_from_members_by_default(admin_world: World):
    admin = next(c for c in admin_world.fake.synced if c["name"] == "admin")
    permissions = discord.Permissions(int(admin["default_member_permissions"]))
    assert permissions.manage_guild and not permissions.send_messages


async def test_a_member_who_forges_an_admin_command_is_refused(admin_world: World):
    text = await run(admin_world, "ban add", {"member": BOB, "reason": "x"}, user=ALICE)
    assert "Only moderators" in text
    assert await admin_world.runtime.moderation.active_ban(BOB, GUILD) is None
    assert await actions(admin_world) == []


async def test_the_moderator_role_is_enough(admin_world: World):
    await admin_world.runtime.policies.set_guild_setting(GUILD, "moderator_role", ARTIST)
    admin_world.fake.add_member(GUILD, ALICE, roles=[ARTIST])
    text = await run(admin_world, "terms add", {"pattern": "dragon"}, user=ALICE)
    assert "Blocked" in text


async def test_a_replayed_interaction_is_acted_on_once(admin_world: World):
    interaction = await admin_world.fake.invoke(
        "admin quota grant", {"member": ALICE, "units": 5}, user=MOD, channel=GENERAL
    )
    await interaction.wait(lambda i: bool(i.original and i.original.content))
    await admin_world.fake.replay(interaction)
    await asyncio.sleep(0.3)
    assert await actions(admin_world) == ["quota.grant"]
    assert not admin_world.fake.violations


async def test_quota_grant_reset_set_default_and_view(admin_world: World):
    world = admin_world
    await result_of(world, await imagine(world, count=3))
    assert "used 3 of 50" in await run(world, "quota view", {"member": ALICE})
    await run(world, "quota grant", {"member": ALICE, "units": 2, "reason": "contest"})
    assert "used 1 of 50" in await run(world, "quota view", {"member": ALICE})
    await run(world, "quota reset", {"member": ALICE})
    assert "used 0 of 50" in await run(world, "quota view", {"member": ALICE})
    await run(world, "quota default", {"daily_units": 10})
    assert "of 10" in await run(world, "quota view", {"member": ALICE})
    await run(world, "quota set", {"member": ALICE, "daily_units": 1})
    assert "of 1 " in await run(world, "quota view", {"member": ALICE})
    refused = await imagine(world, count=2)
    await refused.wait(lambda i: "quota" in (i.original.content if i.original else ""))
    assert await actions(world) == [
        "quota.grant",
        "quota.reset",
        "quota.default",
        "quota.set",
    ]


async def test_tiers_by_role_change_what_a_member_may_do(admin_world: World):
    world = admin_world
    await run(
        world,
        "tier set",
        {"role": ARTIST, "name": "artists", "daily_units": 20, "max_count": 2, "max_steps": 10},
    )
    world.fake.add_member(GUILD, ALICE, roles=[ARTIST])
    assert "of 20 " in await run(world, "quota view", {"member": ALICE})
    too_many = await imagine(world, count=3)
    await too_many.wait(lambda i: bool(i.original and "count" in i.original.content))
    assert "artists" in too_many.original.content  # type: ignore[union-attr]
    await result_of(world, await imagine(world, count=2))
    assert "20 units/day" in await run(world, "tier list")
    await run(world, "tier remove", {"role": ARTIST})
    assert "of 50 " in await run(world, "quota view", {"member": ALICE})
    assert await actions(world) == ["tier.set", "tier.remove"]


async def test_bans_with_expiry_and_unban(admin_world: World):
    world = admin_world
    await run(world, "ban add", {"member": ALICE, "reason": "spam", "hours": 1})
    refused = await imagine(world)
    await refused.wait(lambda i: bool(i.original and i.original.content))
    assert "can't use the image bot here: spam" in refused.original.content  # type: ignore[union-attr]
    assert await world.jobs() == []
    assert "spam" in await run(world, "ban list")
    world.runtime.moderation._clock = lambda: time.time() + 7200  # the hour has passed
    await result_of(world, await imagine(world))
    world.runtime.moderation._clock = time.time
    await run(world, "ban add", {"member": ALICE, "reason": "again"})
    await run(world, "ban remove", {"member": ALICE})
    await result_of(world, await imagine(world, "after"))
    assert await actions(world) == ["ban", "ban", "unban"]


async def test_only_the_owner_bans_everywhere(admin_world: World):
    text = await run(admin_world, "ban add", {"member": ALICE, "reason": "x", "everywhere": True})
    assert "Only the bot's owner" in text
    await run(
        admin_world,
        "ban add",
        {"member": ALICE, "reason": "abuse", "everywhere": True},
        user=OWNER,
    )
    dm = await admin_world.fake.invoke(
        "imagine", {"prompt": "x"}, user=ALICE, channel=admin_world.fake.dm_channel_of(ALICE)
    )
    await dm.wait(lambda i: bool(i.original and "abuse" in i.original.content))


async def test_blocked_terms_in_prompt_and_negative_prompt(admin_world: World):
    world = admin_world
    await run(world, "terms add", {"pattern": "dragon"})
    for options in ({"prompt": "a red Dragon"}, {"prompt": "x", "negative": "dragons, dragon"}):
        refused = await world.fake.invoke("imagine", options, user=ALICE, channel=GENERAL)
        await refused.wait(lambda i: bool(i.original and "blocked term" in i.original.content))
    await result_of(world, await imagine(world, "snapdragon flowers"))  # whole words only
    assert await world.used(ALICE) == 1
    assert (await actions(world)).count("prompt.blocked") == 2
    assert "dragon" in await run(world, "terms list")
    await run(world, "terms remove", {"pattern": "dragon"})
    await result_of(world, await imagine(world, "a dragon"))


async def test_the_built_in_list_applies_outside_age_restricted_channels(admin_world: World):
    refused = await imagine(admin_world, "a nude statue")
    await refused.wait(lambda i: bool(i.original and "blocked term" in i.original.content))
    allowed = await admin_world.fake.invoke(
        "imagine", {"prompt": "a nude statue"}, user=ALICE, channel=ADULT
    )
    await result_of(admin_world, allowed)


async def test_a_bad_or_slow_regex_is_refused(admin_world: World):
    assert "Cannot block" in await run(admin_world, "terms add", {"pattern": "(a", "regex": True})
    # That the checks behind this refusal are bounded, whatever the machine's load, is
    # asserted in tests/bot/test_moderation.py and tests/property/test_terms.py.
    assert "Cannot block" in await run(
        admin_world, "terms add", {"pattern": "(a+)+$", "regex": True}
    )
    assert "Blocked" in await run(
        admin_world, "terms add", {"pattern": r"cat\s*girl", "regex": True}
    )


async def test_nsfw_policy_per_server_and_channel(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, fake={"flag": True, "nsfw_models": ["spicy"]}) as world:
        await result_of(
            world,
            await world.fake.invoke(
                "imagine", {"prompt": "x", "model": "fake:spicy"}, user=ALICE, channel=ADULT
            ),
        )
        await world.runtime.policies.set_content(GUILD, {"nsfw": False}, channel_id=ADULT)
        refused = await world.fake.invoke(
            "imagine", {"prompt": "x", "model": "fake:spicy"}, user=ALICE, channel=ADULT
        )
        await refused.wait(lambda i: bool(i.original and "NSFW" in i.original.content))
        await world.runtime.policies.set_content(
            GUILD, {"nsfw": None, "flagged": "hide"}, channel_id=ADULT
        )
        hidden = await result_of(
            world, await world.fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=ADULT)
        )
        assert hidden.files == {}


async def test_policy_commands_switch_img2img_providers_and_set_channel_defaults(
    admin_world: World,
):
    world = admin_world
    await run(world, "policy set", {"img2img": False})
    attachment = world.fake.add_attachment(b"\x89PNG not really", "a.png")
    refused = await world.fake.invoke(
        "imagine", {"prompt": "x", "image": attachment}, user=ALICE, channel=GENERAL
    )
    await refused.wait(lambda i: bool(i.original and i.original.content))
    assert "img2img" in refused.original.content or "image" in refused.original.content  # type: ignore[union-attr]
    await run(world, "policy set", {"channel": ADULT, "width": 256, "height": 128})
    await result_of(
        world, await world.fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=ADULT)
    )
    assert world.provider.calls[-1].size == (256, 128)
    await run(world, "policy model", {"name": "fake-v2", "enabled": False})
    off = await imagine(world, model="fake:fake-v2")
    await off.wait(lambda i: bool(i.original and "switched on" in i.original.content))
    assert "fake-v2" in await run(world, "policy show")
    assert (await actions(world))[:2] == ["policy.set", "policy.set"]


async def test_a_report_reaches_the_report_channel_and_moderators_act_on_it(admin_world: World):
    world = admin_world
    await run(world, "config", {"report_channel": REPORTS, "log_channel": LOGS})
    result = await result_of(world, await imagine(world, "something awful"))
    clicked = await world.fake.click(result.id, "img:p:1:0", user=BOB)
    await clicked.wait(lambda i: bool(i.original and "Thank you" in i.original.content))
    await world.fake.wait_for(lambda: bool(world.fake.channel_messages(REPORTS)))
    [report] = world.fake.channel_messages(REPORTS)
    assert "something awful" in report.embeds[0]["description"] and report.files
    assert buttons(report) == ["report:delete:1", "report:ban:1", "report:dismiss:1"]

    forged = await world.fake.click(report.id, "report:ban:1", user=BOB)
    await forged.wait(lambda i: bool(i.responses))
    assert await world.runtime.moderation.active_ban(ALICE, GUILD) is None

    deleted = await world.fake.click(report.id, "report:delete:1", user=MOD)
    await deleted.wait(lambda i: bool(i.original and "deleted" in i.original.content))
    assert result.deleted
    assert "resolved" in world.fake.message(report.id).content
    assert (await world.runtime.moderation.report(1)).status == "resolved"  # type: ignore[union-attr]
    logged = [m.content for m in world.fake.channel_messages(LOGS)]
    assert any("result.delete" in line for line in logged)


async def test_drain_mode_lets_running_jobs_finish_and_holds_new_ones(admin_world: World):
    world = admin_world
    release = held(world)
    running = await imagine(world, "in flight")
    await asyncio.wait_for(world.provider.started.wait(), 10)
    assert "Only the bot's owner" in await run(world, "queue pause")
    assert "paused" in await run(world, "queue pause", user=OWNER)
    waiting = await imagine(world, "waits", user=BOB)
    await waiting.wait(
        lambda i: bool(i.original and "paused for maintenance" in i.original.content)
    )
    assert "paused for maintenance" in await run(world, "status", user=BOB)
    release.set()
    await result_of(world, running)
    await asyncio.sleep(0.5)
    job = await world.runtime.store.get(2)
    assert job is not None and job.status is JobStatus.QUEUED
    await run(world, "queue resume", user=OWNER)
    await result_of(world, waiting)
    assert (await actions(world))[-2:] == ["queue.pause", "queue.resume"]


async def test_queue_list_and_cancel_any_job(admin_world: World):
    world = admin_world
    release = held(world)
    await imagine(world, "first")
    await asyncio.wait_for(world.provider.started.wait(), 10)
    second = await imagine(world, "second", user=BOB)
    await second.wait(lambda i: bool(i.original and "queued" in i.original.content))
    listed = await run(world, "queue list")
    assert "#1" in listed and "#2" in listed and "second" in listed
    await run(world, "queue cancel", {"job": 2, "reason": "off topic"})
    job = await world.runtime.store.get(2)
    assert job is not None and job.status is JobStatus.CANCELLED
    assert await world.used(BOB) == 0
    release.set()


async def test_purge_deletes_exactly_that_members_results(admin_world: World):
    world = admin_world
    alice = [await result_of(world, await imagine(world, f"a{n}")) for n in range(2)]
    bob = await result_of(world, await imagine(world, "b", user=BOB))
    assert "a1" in await run(world, "member prompts", {"member": ALICE})
    assert "Deleted 2" in await run(world, "member purge", {"member": ALICE})
    assert all(message.deleted for message in alice) and not bob.deleted
    assert "member.purge" in await actions(world)


async def test_audit_pages_and_stats(admin_world: World):
    world = admin_world
    await result_of(world, await imagine(world, count=2))
    for n in range(12):
        await run(world, "quota grant", {"member": BOB, "units": n + 1})
    page = await run(world, "audit")
    assert "page 1 of 2" in page and "quota.grant" in page
    stats = await run(world, "stats")
    assert "fake/fake-v1: 2 images" in stats and "median" in stats


async def test_stats_attach_a_chart_beside_the_numbers(admin_world: World):
    world = admin_world
    await result_of(world, await imagine(world, count=2))
    interaction = await world.fake.invoke("admin stats", {}, user=MOD, channel=GENERAL)
    await interaction.wait(lambda i: bool(i.original and i.original.attachments))
    message = interaction.original
    assert message is not None and interaction.ephemeral
    fields = {field["name"]: field["value"] for field in message.embeds[0]["fields"]}
    assert "fake/fake-v1: 2 images" in fields["Providers and models"]
    assert "median" in fields["Jobs"] and ": 2" in fields["Images per day"]
    [chart] = message.attachments
    assert chart.filename == "stats.png" and chart.description
    assert message.embeds[0]["image"]["url"] == "attachment://stats.png"
    with Image.open(io.BytesIO(chart.data)) as image:
        image.load()
        assert image.format == "PNG" and image.size == (800, 600)


async def test_status_for_everyone(admin_world: World):
    text = await run(admin_world, "status", user=ALICE)
    assert "fake" in text and "ready" in text and "0 waiting" in text


async def test_the_owner_switches_a_provider_off_everywhere(admin_world: World):
    assert "Only the bot's owner" in await run(
        admin_world, "owner provider", {"name": "fake", "enabled": False}
    )
    await run(admin_world, "owner provider", {"name": "fake", "enabled": False}, user=OWNER)
    off = await imagine(admin_world)
    await off.wait(lambda i: bool(i.original and "switched on" in i.original.content))
    await run(admin_world, "owner provider", {"name": "fake", "enabled": True}, user=OWNER)
    await result_of(admin_world, await imagine(admin_world))


async def test_purge_deletes_every_part_of_a_split_result(tmp_path: Path, redirect: None):
    async with open_world(
        tmp_path, fake_options={"upload_limit": 2500}, discord={"owner_ids": [OWNER]}
    ) as world:
        world.fake.add_user(OWNER, "owner")
        world.fake.add_member(GUILD, OWNER)
        await result_of(world, await imagine(world, count=4, width=512, height=512))
        await world.fake.wait_for(lambda: sum(len(m.files) for m in world.fake.messages) == 4)
        for _ in range(100):  # the delivery is recorded after the last part
            job = await world.runtime.store.get(1)
            if job is not None and job.delivered:
                break
            await asyncio.sleep(0.05)
        parts = list(world.fake.messages)
        assert len(parts) >= 2
        assert "Deleted 1" in await run(world, "member purge", {"member": ALICE}, user=OWNER)
        assert all(part.deleted for part in parts)
