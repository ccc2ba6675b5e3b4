from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot import scheduler
from bot.jobs import Requester
from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, Secrets
from tests.bot.helpers import claim_all, submit
from tests.conftest import make_settings


async def test_three_users_with_uneven_loads_are_served_round_robin(runtime: Runtime):
    for _ in range(6):
        await submit(runtime, 1)
    for _ in range(3):
        await submit(runtime, 2)
    await submit(runtime, 3)
    order = [job.user_id for job in await claim_all(runtime)]
    assert order == [1, 2, 3, 1, 2, 1, 2, 1, 1, 1]


async def test_a_newcomer_goes_next_even_behind_a_long_queue(runtime: Runtime):
    for _ in range(10):
        await submit(runtime, 1)
    picked = await claim_all_until(runtime, 3)
    assert [job.user_id for job in picked] == [1, 1, 1]
    await submit(runtime, 2)
    order = [job.user_id for job in await claim_all(runtime)]
    assert order[0] == 2
    assert order.count(1) == 7


async def claim_all_until(rt: Runtime, n: int):
    picked = []
    for _ in range(n):
        per_provider, per_user = await rt.store.running_counts()
        batch = await rt.store.claim("discord", rt.providers.capacity(per_provider, per_user, 1))
        for job in batch:
            await rt.store.succeed(job, [])
        picked += batch
    return picked


async def test_a_priority_tier_gets_more_turns(tmp_path: Path):
    settings = make_settings(
        tmp_path,
        quota={"tiers": [{"name": "gold", "role_id": 9, "priority": 2.0, "max_queued": 10}]},
        queue={"max_queued_per_user": 10},
    )
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        for _ in range(6):
            await submit(rt, 1, guild=5, roles=frozenset({9}))
            await submit(rt, 2, guild=5)
        order = [job.user_id for job in await claim_all(rt)]
    assert order[:6].count(1) == 4
    assert order[:6].count(2) == 2


async def test_a_user_at_the_running_limit_is_skipped(runtime: Runtime):
    await submit(runtime, 1)
    await submit(runtime, 1)
    await submit(runtime, 2)
    capacity = scheduler.Capacity({"fake": 3}, {}, max_running_per_user=1, max_batch={})
    first = await runtime.store.claim("discord", capacity)
    capacity = scheduler.Capacity({"fake": 2}, {1: 1}, max_running_per_user=1, max_batch={})
    second = await runtime.store.claim("discord", capacity)
    capacity = scheduler.Capacity({"fake": 1}, {1: 1, 2: 1}, max_running_per_user=1, max_batch={})
    third = await runtime.store.claim("discord", capacity)
    assert [j.user_id for j in first + second] == [1, 2]
    assert third == []


async def test_a_provider_at_its_concurrency_limit_gets_no_more_jobs(runtime: Runtime):
    await submit(runtime, 1)
    await submit(runtime, 2)
    per_provider, per_user = await runtime.store.running_counts()
    assert (
        len(
            await runtime.store.claim(
                "discord", runtime.providers.capacity(per_provider, per_user, 1)
            )
        )
        == 1
    )
    per_provider, per_user = await runtime.store.running_counts()
    assert per_provider == {"fake": 1}
    assert (
        await runtime.store.claim("discord", runtime.providers.capacity(per_provider, per_user, 1))
        == []
    )


async def test_other_origins_are_not_claimed(runtime: Runtime):
    await submit(runtime, 1, origin="cli")
    assert await claim_all(runtime, "discord") == []
    assert len(await claim_all(runtime, "cli")) == 1


async def test_compatible_jobs_are_batched_in_fair_order(tmp_path: Path):
    settings = make_settings(
        tmp_path,
        providers={"fake": {"kind": "tests.fakes.providers:fake_provider", "max_batch": 3}},
    )
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        a = await submit(rt, 1)
        await submit(rt, 1)
        b = await submit(rt, 2)
        await submit(rt, 3, model="fake-v2")
        c = await submit(rt, 4)
        capacity = scheduler.Capacity(
            {"fake": 1}, {}, max_running_per_user=1, max_batch={"fake": 3}
        )
        batch = await rt.store.claim("discord", capacity)
    assert [job.job_id for job in batch] == [a.job_id, b.job_id, c.job_id]


@dataclass(frozen=True)
class Q:
    job_id: int
    user_id: int
    provider: str = "p"
    batch_key: str = "k"


def test_fill_batch_respects_limit_key_and_running_users():
    capacity = scheduler.Capacity({"p": 1}, {3: 1}, max_running_per_user=1, max_batch={"p": 3})
    followers = [Q(2, 1), Q(3, 2, batch_key="other"), Q(4, 3), Q(5, 4), Q(6, 5)]
    assert [q.job_id for q in scheduler.fill_batch(Q(1, 9), followers, capacity)] == [1, 2, 5]


def test_fair_tags_start_at_virtual_time_for_an_idle_user():
    assert scheduler.fair_tags(5.0, 2.0, 0, 1.0) == (5.0, 6.0)
    assert scheduler.fair_tags(5.0, 8.0, 3, 1.0) == (8.0, 9.0)
    assert scheduler.fair_tags(5.0, 8.0, 0, 2.0) == (5.0, 5.5)


def test_estimate_wait_counts_rounds_of_work():
    assert scheduler.estimate_wait(0, 1, 10.0) == 10.0
    assert scheduler.estimate_wait(3, 2, 10.0) == 20.0
    assert scheduler.estimate_wait(3, 2, None) is None


def test_requester_defaults_to_a_dm():
    assert Requester(1).guild_id is None
