"""Who may act where: user installs and /admin, whom posts ping, /show in another place,
where reports go, and replayed modal submits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from tests.cogs.conftest import (
    ALICE,
    ELSEWHERE,
    ELSEWHERE_CHANNEL,
    World,
    open_world,
)

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
