"""/imagine on the AI Horde through the fake Discord: the member sees the Horde's queue the way
ours is shown, the owner's /status the kudos spent and the anonymous key."""

from __future__ import annotations

import re
import time
from pathlib import Path

from cogs import render
from tests.cogs.conftest import ALICE, GENERAL, GUILD, World, open_world
from tests.cogs.test_imagine import result_of
from tests.engine.remote.fake_horde import ANONYMOUS, STORAGE, FakeHorde

OWNER = 300
COUNTDOWN = re.compile(r"expected ready <t:(\d+):R>")


async def test_imagine_on_the_horde_shows_its_queue_and_the_owner_its_kudos(
    tmp_path: Path, redirect: None, horde: FakeHorde
):
    horde.script.waiting_polls = 10**6  # queued until the test has seen the queue shown
    remote = {
        "kind": "horde",
        "base_url": horde.base_url,
        "image_hosts": [STORAGE],
        "image_hosts_http": [STORAGE],
        "image_hosts_private": [STORAGE],
        "min_poll_seconds": 0.05,
        "max_poll_seconds": 0.1,
    }
    async with open_world(
        tmp_path, discord={"owner_ids": [OWNER]}, providers={"horde": remote}
    ) as world:
        world.fake.add_user(OWNER, "owner")
        world.fake.add_member(GUILD, OWNER)
        interaction = await world.fake.invoke(
            "imagine",
            {"prompt": "a harbour at dawn", "model": "horde:Deliberate"},
            user=ALICE,
            channel=GENERAL,
        )
        await interaction.wait(
            lambda i: bool(i.original and "AI Horde's queue at position" in i.original.content),
            15,
        )
        [moment] = COUNTDOWN.findall(interaction.original.content)  # type: ignore[union-attr]
        assert time.time() + 40 - 30 <= int(moment) <= time.time() + 40 + render.ETA_GRID
        horde.script.waiting_polls = 0
        message = await result_of(world, interaction)
        assert message.attachments
        submitted = horde.submitted[0]
        assert submitted.key == ANONYMOUS
        assert submitted.body["nsfw"] is False and submitted.body["censor_nsfw"] is True
        assert submitted.body["models"] == ["Deliberate"]
        text = await status_text(world, OWNER)
        assert f"horde: {submitted.kudos:.0f} kudos spent since start over 1 request" in text
        assert "anonymous key: lowest priority" in text
        assert "kudos" not in await status_text(world, ALICE)


async def status_text(world: World, user: int) -> str:
    interaction = await world.fake.invoke("status", {}, user=user, channel=GENERAL)
    await interaction.wait(lambda i: bool(i.responses), 15)
    embeds = interaction.responses[0]["data"].get("embeds", [])
    return "\n".join(
        f"{field['name']}: {field['value']}" for embed in embeds for field in embed["fields"]
    )
