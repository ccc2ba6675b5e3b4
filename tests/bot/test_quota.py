from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.errors import CooldownActive, QueueLimitReached, QuotaExceeded, Refusal
from bot.jobs import Requester
from bot.moderation import Tier
from bot.quota import QuotaPolicy, period_of, resets_at
from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, QueueSettings, QuotaSettings, Secrets
from bot.store import SqliteJobStore
from engine import GenerationRequest, InvalidRequest
from tests.bot.helpers import submit
from tests.conftest import make_settings

DAY = 86400.0
NOON = 1_790_000_000.0 - 1_790_000_000.0 % DAY + DAY / 2


def policy(**quota: object) -> QuotaPolicy:
    return QuotaPolicy(QuotaSettings.model_validate(quota), QueueSettings())


def test_cost_is_one_unit_per_base_image_and_scales_with_work():
    p = policy()
    assert p.cost(GenerationRequest("x", width=512, height=512, count=1)) == 1
    assert p.cost(GenerationRequest("x", width=256, height=256, count=3)) == 3
    assert p.cost(GenerationRequest("x", width=1024, height=1024, steps=30)) == 4
    assert p.cost(GenerationRequest("x", width=1024, height=1024, steps=60, count=2)) == 16
    assert p.cost(GenerationRequest("x", width=512, height=512), multiplier=2.5) == 3


def test_limits_come_from_global_guild_then_best_tier():
    p = policy(
        daily_units=50,
        guilds={"10": {"daily_units": 20, "cooldown_seconds": 5}},
        tiers=[
            {"name": "silver", "role_id": 1, "daily_units": 100},
            {"name": "gold", "role_id": 2, "daily_units": 300, "priority": 3},
        ],
    )
    dm = p.limits_for(Requester(7))
    assert (dm.scope, dm.tier, dm.allowance) == (0, "default", 50)
    dm_with_roles = p.limits_for(Requester(7, None, None, frozenset({1, 2})))
    assert dm_with_roles.allowance == 50
    guild = p.limits_for(Requester(7, 10))
    assert (guild.scope, guild.tier, guild.allowance, guild.cooldown) == (10, "guild", 20, 5)
    gold = p.limits_for(Requester(7, 10, None, frozenset({1, 2})))
    assert (gold.tier, gold.allowance, gold.cooldown, gold.priority) == ("gold", 300, 5, 3)
    other_guild = p.limits_for(Requester(7, 11))
    assert (other_guild.scope, other_guild.allowance) == (11, 50)


def test_the_period_is_the_utc_day():
    assert period_of(NOON) != period_of(NOON + DAY / 2)
    assert resets_at(NOON) == NOON + DAY / 2


async def test_200_simultaneous_requests_with_10_units_left_accept_exactly_10(tmp_path: Path):
    settings = make_settings(
        tmp_path, quota={"daily_units": 50}, queue={"max_queued_per_user": 1000}
    )
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        await rt.ledger.grant(7, 0, -40, actor_id=1)  # 40 of 50 already gone
        results = await asyncio.gather(
            *(submit(rt, 7, f"prompt {i}") for i in range(200)), return_exceptions=True
        )
        accepted = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, QuotaExceeded)]
        assert len(accepted) == 10
        assert len(refused) == 190
        usage = await rt.ledger.usage(7, await rt.service.limits_for(Requester(7)))
        assert (usage.used, usage.remaining) == (50, 0)
        row = await rt.db.fetchone("SELECT COUNT(*) FROM jobs")
        assert row is not None and row[0] == 10


async def test_a_refusal_says_what_is_left_and_when_it_resets(tmp_path: Path):
    settings = make_settings(tmp_path, quota={"daily_units": 3})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        await submit(rt, 7, count=2)
        with pytest.raises(QuotaExceeded) as caught:
            await submit(rt, 7, count=2)
    err = caught.value
    assert (err.cost, err.remaining, err.allowance) == (2, 1, 3)
    assert "needs 2 quota units but you have 1 of 3 left" in err.user_message
    assert "resets at" in err.user_message and "UTC" in err.user_message


async def test_usage_is_counted_per_day_and_refunds_land_in_their_own_day(tmp_path: Path):
    settings = make_settings(tmp_path, quota={"daily_units": 2})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        clock = [NOON]
        store = SqliteJobStore(rt.db, clock=lambda: clock[0])
        rt.service.store = store
        first = await submit(rt, 7, count=2)
        with pytest.raises(QuotaExceeded):
            await submit(rt, 7)
        clock[0] += DAY
        await submit(rt, 7, count=2)
        await store.cancel(first.job_id)  # refunds yesterday, not today
        with pytest.raises(QuotaExceeded):
            await submit(rt, 7)


async def test_cooldown_between_requests(tmp_path: Path):
    settings = make_settings(tmp_path, quota={"cooldown_seconds": 30})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        clock = [NOON]
        rt.service.store = SqliteJobStore(rt.db, clock=lambda: clock[0])
        await submit(rt, 7)
        clock[0] += 10
        with pytest.raises(CooldownActive) as caught:
            await submit(rt, 7)
        assert caught.value.retry_at == NOON + 30
        clock[0] += 21
        await submit(rt, 7)


async def test_the_queue_limit_per_user(tmp_path: Path):
    settings = make_settings(tmp_path, queue={"max_queued_per_user": 2})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        await submit(rt, 7)
        await submit(rt, 7)
        with pytest.raises(QueueLimitReached, match="2 jobs waiting"):
            await submit(rt, 7)
        await submit(rt, 8)


@pytest.mark.parametrize(
    ("options", "field", "allowed"),
    [
        ({"prompt": "   "}, "prompt", "some text"),
        ({"prompt": "x" * 1501}, "prompt", "at most 1500"),
        ({"width": 4096}, "width", "64 to 2048"),
        ({"width": 100}, "width", "multiple of 8"),
        ({"count": 9}, "count", "1 to 4"),
        ({"steps": 0}, "steps", "1 to 100"),
        ({"sampler": "Magic"}, "sampler", "Euler, Euler a"),
        ({"model": "nope"}, "model", "fake-v1, fake-v2"),
        ({"seed": -1}, "seed", "0 to 4294967295"),
        ({"guidance": 99.0}, "guidance", "0 to 30"),
    ],
)
async def test_bad_options_are_refused_by_name_and_cost_nothing(
    runtime: Runtime, options: dict[str, object], field: str, allowed: str
):
    request = GenerationRequest(**{"prompt": "ok", "width": 64, "height": 64, **options})  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest) as caught:
        await runtime.service.submit(request, Requester(7))
    assert caught.value.field == field
    assert allowed in str(caught.value)
    assert not isinstance(caught.value, Refusal)
    row = await runtime.db.fetchone("SELECT COUNT(*) FROM quota_ledger")
    assert row is not None and row[0] == 0


async def test_img2img_input_is_checked_before_queueing(runtime: Runtime):
    from engine import Mode

    bad = GenerationRequest(
        "ok", width=64, height=64, mode=Mode.IMG2IMG, init_image=b"not an image", strength=0.5
    )
    with pytest.raises(InvalidRequest, match="PNG, JPEG or WebP"):
        await runtime.service.submit(bad, Requester(7))
    missing = GenerationRequest("ok", width=64, height=64, mode=Mode.IMG2IMG, strength=0.5)
    with pytest.raises(InvalidRequest, match="needs an input image"):
        await runtime.service.submit(missing, Requester(7))


async def test_a_servers_allowances_can_lower_but_never_raise_the_owners(tmp_path: Path):
    settings = make_settings(tmp_path, quota={"daily_units": 5})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        member = Requester(7, 10, 1000, frozenset({55}))
        await rt.policies.set_guild_units(10, 100_000)
        await rt.moderation.set_tier(
            Tier(10, 55, "patron", daily_units=100_000, max_queued=1000, priority=100.0),
            actor_id=1,
        )
        await rt.policies.set_member_units(10, 7, 100_000, actor_id=1)
        limits = await rt.service.limits_for(member)
        assert (limits.allowance, limits.priority) == (5, 1.0)
        assert limits.max_queued == settings.queue.max_queued_per_user
        await submit(rt, 7, guild=10, roles=frozenset({55}), count=4)
        with pytest.raises(QuotaExceeded):
            await submit(rt, 7, guild=10, roles=frozenset({55}), count=2)
        await rt.policies.set_member_units(10, 7, 2, actor_id=1)  # lowering still works
        assert (await rt.service.limits_for(member)).allowance == 2


async def test_a_member_in_three_servers_cannot_pass_the_cap_across_servers(tmp_path: Path):
    settings = make_settings(tmp_path, quota={"daily_units": 4, "global_daily_units": 6})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        await submit(rt, 7, guild=10, count=4)
        await submit(rt, 7, guild=11, count=2)
        for guild in (11, 12, None):
            with pytest.raises(QuotaExceeded) as caught:
                await submit(rt, 7, guild=guild)
            assert caught.value.everywhere and caught.value.remaining == 0
            assert "across all servers" in caught.value.user_message
        await rt.ledger.grant(7, 11, 100, actor_id=1)  # a server's grant: that server only
        with pytest.raises(QuotaExceeded):
            await submit(rt, 7, guild=11)
        await rt.ledger.grant(7, 0, 1, actor_id=1)  # the owner's (in DMs): everywhere
        await submit(rt, 7, guild=12)
        await submit(rt, 8, guild=12)  # another member has their own


async def test_by_default_more_servers_do_not_mean_more_images(tmp_path: Path):
    settings = make_settings(tmp_path, quota={"daily_units": 3})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        await submit(rt, 7, guild=10, count=2)
        await submit(rt, 7, guild=11)
        with pytest.raises(QuotaExceeded):
            await submit(rt, 7, guild=12)


def test_the_default_cap_is_the_largest_allowance_the_owner_configured():
    assert policy(daily_units=50).daily_cap == 50
    assert (
        policy(daily_units=50, tiers=[{"name": "g", "role_id": 2, "daily_units": 300}]).daily_cap
        == 300
    )
    assert policy(daily_units=50, guilds={"10": {"daily_units": 80}}).daily_cap == 80
    assert policy(daily_units=50, global_daily_units=20).daily_cap == 20


async def test_200_simultaneous_requests_in_three_servers_stop_exactly_at_the_cap(tmp_path: Path):
    settings = make_settings(
        tmp_path,
        quota={"daily_units": 50, "global_daily_units": 10},
        queue={"max_queued_per_user": 1000},
    )
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        results = await asyncio.gather(
            *(submit(rt, 7, f"prompt {i}", guild=10 + i % 3) for i in range(200)),
            return_exceptions=True,
        )
        accepted = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, QuotaExceeded)]
        assert (len(accepted), len(refused)) == (10, 190)
        usage = await rt.ledger.usage_everywhere(7, await rt.service.limits_for(Requester(7)))
        assert usage is not None and (usage.used, usage.remaining) == (10, 0)
