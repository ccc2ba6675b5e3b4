"""A LoRA the owner flags NSFW is held, like an NSFW model, to age-restricted server channels,
whether named in the loras option or written in the prompt."""

from __future__ import annotations

from pathlib import Path

from engine import LoraRef
from tests.cogs.conftest import ADULT, ALICE, GENERAL, open_world
from tests.cogs.test_imagine import result_of


async def test_nsfw_loras_only_run_in_age_restricted_server_channels(
    tmp_path: Path, redirect: None
):
    fake = {"loras": ["ink", "spicy"], "nsfw_loras": ["spicy"]}
    async with open_world(tmp_path, fake=fake) as world:
        dm = world.fake.dm_channel_of(ALICE)
        for channel, options in (
            (GENERAL, {"prompt": "x", "loras": "spicy:0.8"}),
            (GENERAL, {"prompt": "x <lora:spicy:0.8>"}),
            (dm, {"prompt": "x <lora:spicy:0.8>"}),
        ):
            refused = await world.fake.invoke("imagine", options, user=ALICE, channel=channel)
            await refused.wait(lambda i: bool(i.original and i.original.content))
            assert "NSFW LoRA" in refused.original.content  # type: ignore[union-attr]
        assert await world.jobs() == [] and await world.used(ALICE) == 0
        await result_of(
            world,
            await world.fake.invoke(
                "imagine", {"prompt": "x <lora:ink:0.8>"}, user=ALICE, channel=GENERAL
            ),
        )
        allowed = await world.fake.invoke(
            "imagine", {"prompt": "x <lora:spicy:0.8>"}, user=ALICE, channel=ADULT
        )
        await result_of(world, allowed)
        assert world.provider.calls[-1].loras == (LoraRef("spicy", 0.8),)
        assert world.provider.calls[-1].prompt == "x"
