from __future__ import annotations

import time

import pytest

from bot.errors import InvalidTransition, JobNotFound
from bot.jobs import TRANSITIONS, Job, JobStatus, Requester
from bot.quota import GLOBAL_SCOPE, period_of
from bot.runtime import Runtime
from bot.scheduler import Capacity
from engine import GenerationRequest
from tests.bot.helpers import submit


async def usage(rt: Runtime, user: int) -> int:
    row = await rt.db.fetchone(
        "SELECT COALESCE(SUM(units), 0) FROM quota_ledger WHERE user_id = ? AND scope = ?",
        (user, GLOBAL_SCOPE),
    )
    assert row is not None
    return int(row[0])


async def claim_one(rt: Runtime) -> Job:
    """Claim the next job as if the provider had room for several."""
    _, per_user = await rt.store.running_counts()
    capacity = Capacity({"fake": 5}, per_user, max_running_per_user=5, max_batch={})
    batch = await rt.store.claim("discord", capacity)
    assert len(batch) == 1
    return batch[0]


async def test_submit_stores_a_queued_job_and_reserves_its_cost(runtime: Runtime):
    job = await submit(runtime, 7, count=2)
    assert job.status is JobStatus.QUEUED
    assert job.cost == 2
    assert job.request.seed is not None
    assert job.request.seeds == [job.request.seed, job.request.seed + 1]
    assert job.model == "fake-v1"
    assert await usage(runtime, 7) == 2
    row = await runtime.db.fetchone(
        "SELECT kind, period FROM quota_ledger WHERE job_id = ?", (job.job_id,)
    )
    assert row is not None and tuple(row) == ("reserve", period_of(job.created_at))


async def test_claim_starts_the_job_and_counts_the_attempt(runtime: Runtime):
    job = await submit(runtime, 7)
    running = await claim_one(runtime)
    assert running.job_id == job.job_id
    assert running.status is JobStatus.RUNNING
    assert running.attempt == 1
    assert running.started_at is not None


async def test_success_commits_the_cost(runtime: Runtime):
    await submit(runtime, 7)
    job = await claim_one(runtime)
    await runtime.store.succeed(job, [])
    assert (await runtime.store.get(job.job_id)).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
    assert await usage(runtime, 7) == 1
    kinds = await runtime.db.fetchall(
        "SELECT kind FROM quota_ledger WHERE job_id = ? ORDER BY entry_id", (job.job_id,)
    )
    assert [r[0] for r in kinds] == ["reserve", "commit"]


async def test_failure_refunds_the_cost(runtime: Runtime):
    await submit(runtime, 7)
    job = await claim_one(runtime)
    assert await runtime.store.fail(job, "it broke") is False
    stored = await runtime.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.FAILED and stored.error == "it broke"
    assert await usage(runtime, 7) == 0


async def test_a_retryable_failure_requeues_until_attempts_are_spent(runtime: Runtime):
    await submit(runtime, 7)
    for attempt in range(1, 4):
        job = await claim_one(runtime)
        assert job.attempt == attempt
        retried = await runtime.store.fail(job, "down", retry_after=0)
        assert retried is (attempt < 3)
    stored = await runtime.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.FAILED
    assert await usage(runtime, 7) == 0


async def test_a_retry_waits_for_its_delay(runtime: Runtime):
    await submit(runtime, 7)
    job = await claim_one(runtime)
    await runtime.store.fail(job, "down", retry_after=60)
    per_provider, per_user = await runtime.store.running_counts()
    assert (
        await runtime.store.claim("discord", runtime.providers.capacity(per_provider, per_user, 1))
        == []
    )
    ready = await runtime.store.next_ready_at("discord")
    assert ready is not None and ready > job.started_at + 59  # type: ignore[operator]


async def test_cancel_while_queued_refunds_at_once(runtime: Runtime):
    job = await submit(runtime, 7)
    assert await runtime.store.cancel(job.job_id, 7) is JobStatus.CANCELLED
    assert await usage(runtime, 7) == 0
    assert await runtime.store.cancel(job.job_id, 7) is JobStatus.CANCELLED


async def test_cancel_while_running_flags_the_job_for_its_worker(runtime: Runtime):
    await submit(runtime, 7)
    job = await claim_one(runtime)
    assert await runtime.store.cancel(job.job_id, 7) is JobStatus.RUNNING
    stored = await runtime.store.get(job.job_id)
    assert stored is not None and stored.cancel_requested
    await runtime.store.finish_cancelled(job)
    assert await usage(runtime, 7) == 0


async def test_only_the_owner_can_cancel(runtime: Runtime):
    job = await submit(runtime, 7)
    with pytest.raises(JobNotFound):
        await runtime.store.cancel(job.job_id, 8)
    with pytest.raises(JobNotFound):
        await runtime.store.cancel(99999)


async def test_a_stale_attempt_cannot_finish_a_retried_job(runtime: Runtime):
    await submit(runtime, 7)
    first = await claim_one(runtime)
    await runtime.store.fail(first, "down", retry_after=0)
    second = await claim_one(runtime)
    with pytest.raises(InvalidTransition):
        await runtime.store.succeed(first, [])
    await runtime.store.succeed(second, [])


async def test_terminal_states_do_not_move(runtime: Runtime):
    await submit(runtime, 7)
    job = await claim_one(runtime)
    await runtime.store.succeed(job, [])
    for attempt in (
        runtime.store.fail(job, "x"),
        runtime.store.finish_cancelled(job),
        runtime.store.requeue(job),
        runtime.store.succeed(job, []),
    ):
        with pytest.raises(InvalidTransition):
            await attempt
    assert await usage(runtime, 7) == 1


def test_the_transition_table_has_exactly_the_documented_moves():
    moves = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert moves == {
        ("queued", "running"),
        ("queued", "cancelled"),
        ("queued", "failed"),
        ("running", "succeeded"),
        ("running", "failed"),
        ("running", "cancelled"),
        ("running", "queued"),
    }
    assert all(status.terminal == (not TRANSITIONS[status]) for status in JobStatus)


async def test_shutdown_requeue_does_not_spend_an_attempt(runtime: Runtime):
    await submit(runtime, 7)
    job = await claim_one(runtime)
    await runtime.store.requeue(job)
    again = await claim_one(runtime)
    assert again.attempt == 1


async def test_recovery_requeues_running_jobs_or_fails_and_refunds_them(runtime: Runtime):
    await submit(runtime, 1)
    await submit(runtime, 2)
    fresh = await claim_one(runtime)
    spent = await claim_one(runtime)
    async with runtime.db.transaction() as conn:  # a job that already used every attempt
        await conn.execute(
            "UPDATE jobs SET attempt = max_attempts WHERE job_id = ?", (spent.job_id,)
        )
    recovery = await runtime.store.recover("discord")
    assert (recovery.requeued, recovery.failed) == (1, 1)
    assert (await runtime.store.get(fresh.job_id)).status is JobStatus.QUEUED  # type: ignore[union-attr]
    failed = await runtime.store.get(spent.job_id)
    assert (
        failed is not None
        and failed.status is JobStatus.FAILED
        and "restart" in (failed.error or "")
    )
    assert await usage(runtime, spent.user_id) == 0
    assert await usage(runtime, fresh.user_id) == 1


async def test_delivery_is_recorded_once(runtime: Runtime):
    await submit(runtime, 7)
    job = await claim_one(runtime)
    await runtime.store.succeed(job, [])
    assert [j.job_id for j in await runtime.store.undelivered("discord")] == [job.job_id]
    assert await runtime.store.mark_delivered(job.job_id, "msg-1") is True
    assert await runtime.store.mark_delivered(job.job_id, "msg-2") is False
    assert await runtime.store.undelivered("discord") == []
    row = await runtime.db.fetchone(
        "SELECT reference FROM deliveries WHERE job_id = ?", (job.job_id,)
    )
    assert row is not None and row[0] == "msg-1"


async def test_abandoned_console_jobs_are_failed_and_refunded(runtime: Runtime):
    job = await submit(runtime, 7, origin="cli")
    assert await runtime.store.abandon("cli", job.created_at + 1, "gone") == 1
    stored = await runtime.store.get(job.job_id)
    assert stored is not None and stored.status is JobStatus.FAILED
    assert await usage(runtime, 7) == 0


async def test_position_and_eta_come_from_the_queue_and_recent_durations(runtime: Runtime):
    first = await submit(runtime, 1)
    second = await submit(runtime, 2)
    place = await runtime.service.position(second.job_id)
    assert (place.position, place.eta) == (1, None)
    job = await claim_one(runtime)
    assert job.job_id == first.job_id
    await runtime.store.succeed(job, [])
    async with runtime.db.transaction() as conn:  # it ran for exactly 4 s, however loaded we are
        await conn.execute(
            "UPDATE jobs SET started_at = finished_at - 4 WHERE job_id = ?", (job.job_id,)
        )
    place = await runtime.service.position(second.job_id)
    assert place.position == 0
    assert place.eta == pytest.approx(4.0)


async def submit_with_token(rt: Runtime, user: int, token: str, expires: float) -> Job:
    request = GenerationRequest(prompt="a lighthouse", width=64, height=64)
    target = {"token": token, "token_expires": expires, "channel_id": 1000}
    return await rt.service.submit(request, Requester(user, None, 1000), target=target)


async def stored_targets(rt: Runtime) -> dict[int, str]:
    rows = await rt.db.fetchall("SELECT job_id, target FROM jobs ORDER BY job_id")
    return {int(row[0]): str(row[1]) for row in rows}


async def test_delivery_drops_the_interaction_token(runtime: Runtime):
    await submit_with_token(runtime, 7, "live-secret", time.time() + 600)
    job = await claim_one(runtime)
    await runtime.store.succeed(job, [])
    assert await runtime.store.mark_delivered(job.job_id, "1/2")
    delivered = await runtime.store.get(job.job_id)
    assert delivered is not None and "token" not in delivered.target
    assert delivered.target["channel_id"] == 1000 and "token_expires" in delivered.target
    assert "live-secret" not in (await stored_targets(runtime))[job.job_id]


async def test_the_sweep_drops_expired_and_used_tokens_and_keeps_live_ones(runtime: Runtime):
    now = time.time()
    expired = await submit_with_token(runtime, 1, "expired-secret", now - 1)
    live = await submit_with_token(runtime, 2, "live-secret", now + 600)
    used = await submit_with_token(runtime, 3, "used-secret", now + 600)
    async with runtime.db.transaction() as conn:  # delivered before delivery dropped tokens
        await conn.execute("UPDATE jobs SET delivered = 1 WHERE job_id = ?", (used.job_id,))
    assert await runtime.store.sweep_tokens() == 2
    assert await runtime.store.sweep_tokens() == 0
    targets = await stored_targets(runtime)
    assert "expired-secret" not in targets[expired.job_id]
    assert "used-secret" not in targets[used.job_id]
    assert "live-secret" in targets[live.job_id]
    job = await runtime.store.get(expired.job_id)
    assert job is not None and job.status is JobStatus.QUEUED  # the job itself waits on
