"""Saved styles in storage (run again on PostgreSQL by tests/scale/test_postgres_styles.py)."""

from __future__ import annotations

import asyncio

import pytest

from bot.members import Preferences
from bot.runtime import Runtime
from bot.style_store import StyleStore
from bot.styles import InvalidStyleName, Scope, Style, StyleLimitReached, UnknownStyle

ALICE, BOB, GUILD, OTHER = 1, 2, 10, 11


async def test_a_style_is_kept_under_its_normalised_name(runtime: Runtime):
    styles = runtime.styles
    replaced = await styles.save(
        Scope.MEMBER, ALICE, Style("Moody", "dark, {prompt}", "bright", "--ar 16:9"), actor_id=ALICE
    )
    assert not replaced
    assert await styles.styles(Scope.MEMBER, ALICE) == [
        Style("moody", "dark, {prompt}", "bright", "--ar 16:9", Scope.MEMBER)
    ]
    assert await styles.save(Scope.MEMBER, ALICE, Style("MOODY", "darker"), actor_id=ALICE)
    [kept] = await styles.styles(Scope.MEMBER, ALICE)
    assert (kept.prompt, kept.negative, kept.params) == ("darker", "", "")
    assert await styles.styles(Scope.MEMBER, BOB) == []


async def test_a_bad_name_is_refused_before_anything_is_kept(runtime: Runtime):
    with pytest.raises(InvalidStyleName):
        await runtime.styles.save(Scope.MEMBER, ALICE, Style("two words", "x"), actor_id=ALICE)
    assert await runtime.styles.styles(Scope.MEMBER, ALICE) == []


async def test_a_members_own_style_shadows_the_servers_of_the_same_name(runtime: Runtime):
    styles = runtime.styles
    await styles.save(Scope.GUILD, GUILD, Style("ink", "server ink"), actor_id=99)
    await styles.save(Scope.GUILD, GUILD, Style("neon", "server neon"), actor_id=99)
    await styles.save(Scope.MEMBER, ALICE, Style("ink", "alice ink"), actor_id=ALICE)

    assert (await styles.resolve(GUILD, ALICE, "INK")).prompt == "alice ink"
    assert (await styles.resolve(GUILD, BOB, "ink")).prompt == "server ink"
    assert (await styles.resolve(GUILD, BOB, "ink")).scope is Scope.GUILD
    assert [(s.name, s.prompt) for s in await styles.usable(GUILD, ALICE)] == [
        ("ink", "alice ink"),
        ("neon", "server neon"),
    ]
    # a server's styles are for that server only; in DMs there are none
    assert await styles.find(OTHER, BOB, "ink") is None
    assert await styles.find(None, BOB, "neon") is None
    assert (await styles.find(None, ALICE, "ink")).prompt == "alice ink"  # type: ignore[union-attr]


async def test_an_unknown_style_names_the_close_ones(runtime: Runtime):
    await runtime.styles.save(Scope.MEMBER, ALICE, Style("moody", "dark"), actor_id=ALICE)
    with pytest.raises(UnknownStyle) as refused:
        await runtime.styles.resolve(GUILD, ALICE, "mooody")
    assert refused.value.close == ("moody",)
    assert "moody" in refused.value.user_message
    with pytest.raises(InvalidStyleName):
        await runtime.styles.resolve(GUILD, ALICE, "no such style")


async def test_the_default_applies_where_it_exists_and_a_named_style_must(runtime: Runtime):
    styles = runtime.styles
    await styles.save(Scope.GUILD, GUILD, Style("ink", "server ink"), actor_id=99)
    assert (await styles.chosen(GUILD, ALICE, None, "ink")).prompt == "server ink"  # type: ignore[union-attr]
    assert await styles.chosen(OTHER, ALICE, None, "ink") is None
    assert await styles.chosen(GUILD, ALICE, None, None) is None
    with pytest.raises(UnknownStyle):
        await styles.chosen(OTHER, ALICE, "ink", None)


async def test_deleting_a_style(runtime: Runtime):
    await runtime.styles.save(Scope.MEMBER, ALICE, Style("moody", "dark"), actor_id=ALICE)
    assert not await runtime.styles.delete(Scope.MEMBER, BOB, "moody")
    assert not await runtime.styles.delete(Scope.GUILD, ALICE, "moody")
    assert not await runtime.styles.delete(Scope.MEMBER, ALICE, "not a name")
    assert await runtime.styles.delete(Scope.MEMBER, ALICE, "Moody")
    assert await runtime.styles.styles(Scope.MEMBER, ALICE) == []


async def test_caps_count_new_names_only(runtime: Runtime):
    styles = StyleStore(runtime.db, per_member=2, per_guild=1)
    await styles.save(Scope.MEMBER, ALICE, Style("a", "x"), actor_id=ALICE)
    await styles.save(Scope.MEMBER, ALICE, Style("b", "x"), actor_id=ALICE)
    assert await styles.save(Scope.MEMBER, ALICE, Style("b", "y"), actor_id=ALICE)
    with pytest.raises(StyleLimitReached) as refused:
        await styles.save(Scope.MEMBER, ALICE, Style("c", "x"), actor_id=ALICE)
    assert refused.value.limit == 2 and not refused.value.server
    await styles.save(Scope.MEMBER, BOB, Style("c", "x"), actor_id=BOB)  # each member their own
    await styles.save(Scope.GUILD, GUILD, Style("c", "x"), actor_id=99)
    with pytest.raises(StyleLimitReached) as refused:
        await styles.save(Scope.GUILD, GUILD, Style("d", "x"), actor_id=99)
    assert refused.value.server


@pytest.mark.parametrize(("scope", "owner"), [(Scope.MEMBER, ALICE), (Scope.GUILD, GUILD)])
async def test_saves_at_once_never_pass_the_cap(runtime: Runtime, scope: Scope, owner: int):
    """From no styles at all too: the saves take turns on the owner's own row."""
    styles = StyleStore(runtime.db, per_member=2, per_guild=2)
    outcomes = await asyncio.gather(
        *(styles.save(scope, owner, Style(f"s{n}", "x"), actor_id=ALICE) for n in range(6)),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, StyleLimitReached)]
    assert len(refused) == 4, outcomes
    assert len(await styles.styles(scope, owner)) == 2


async def test_no_saving_when_the_cap_is_zero(runtime: Runtime):
    styles = StyleStore(runtime.db, per_member=0, per_guild=0)
    with pytest.raises(StyleLimitReached) as refused:
        await styles.save(Scope.MEMBER, ALICE, Style("a", "x"), actor_id=ALICE)
    assert "turned off" in refused.value.user_message


async def test_the_default_style_is_a_preference_and_forgetting_takes_the_members_styles(
    runtime: Runtime,
):
    await runtime.styles.save(Scope.MEMBER, ALICE, Style("moody", "dark"), actor_id=ALICE)
    await runtime.styles.save(Scope.GUILD, GUILD, Style("ink", "ink"), actor_id=ALICE)
    await runtime.members.save_preferences(ALICE, Preferences(style="moody"))
    assert (await runtime.members.preferences(ALICE)).style == "moody"
    await runtime.members.forget(ALICE)
    assert await runtime.styles.styles(Scope.MEMBER, ALICE) == []
    assert (await runtime.members.preferences(ALICE)).style is None
    # a server's style stays, whoever saved it
    assert [s.name for s in await runtime.styles.styles(Scope.GUILD, GUILD)] == ["ink"]
