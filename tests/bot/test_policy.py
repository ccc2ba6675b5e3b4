from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.policy import ALL, ContentPolicy, Policies
from bot.storage import Database


@pytest.fixture
async def policies(tmp_path: Path) -> AsyncIterator[Policies]:
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        yield Policies(db)
    finally:
        await db.close()


async def test_guild_settings_round_trip_key_by_key(policies: Policies):
    assert await policies.guild_setting(1, "report_channel", 0) == 0
    await policies.set_guild_setting(1, "report_channel", 55)
    await policies.set_guild_setting(1, "buttons_everyone", True)
    await policies.set_guild_setting(1, "report_channel", None)
    assert await policies.guild_setting(1, "report_channel", 0) == 0
    assert await policies.guild_setting(1, "buttons_everyone", False) is True
    assert await policies.guild_setting(2, "buttons_everyone", False) is False
    assert await policies.guild_setting(None, "buttons_everyone", False) is False


async def test_a_channel_overrides_its_server_and_none_removes_the_override(policies: Policies):
    assert await policies.content(1, 10) == ContentPolicy()
    await policies.set_content(1, {"img2img": False, "disabled_models": ["x"]})
    await policies.set_content(1, {"img2img": True, "width": 256}, channel_id=10)
    here = await policies.content(1, 10)
    assert here.img2img and here.width == 256 and here.disabled_models == ("x",)
    assert not (await policies.content(1, 11)).img2img
    await policies.set_content(1, {"img2img": None}, channel_id=10)
    assert not (await policies.content(1, 10)).img2img
    assert await policies.content(None) == ContentPolicy()  # DMs: the defaults


async def test_unknown_policy_keys_are_refused(policies: Policies):
    with pytest.raises(TypeError):
        await policies.set_content(1, {"colour": "red"})


async def test_provider_states_and_allowances(policies: Policies):
    await policies.set_provider_state("local", "disabled", actor_id=9)
    await policies.set_provider_state(ALL, "paused", actor_id=9, reason="upgrade")
    assert await policies.provider_states() == {"local": "disabled", ALL: "paused"}
    assert await policies.paused() == frozenset({"local", ALL})
    await policies.set_provider_state(ALL, None, actor_id=9)
    assert await policies.paused() == frozenset({"local"})

    assert await policies.guild_units(1) is None
    await policies.set_guild_units(1, 10)
    await policies.set_guild_units(None, 3)
    assert (await policies.guild_units(1), await policies.guild_units(None)) == (10, 3)
    await policies.set_member_units(1, 7, 0, actor_id=9)
    assert await policies.member_units(1, 7) == 0
    await policies.set_member_units(1, 7, None, actor_id=9)
    assert await policies.member_units(1, 7) is None
