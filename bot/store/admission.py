"""Admission: cooldown, queue limit and quota checked, the job inserted and its cost reserved
in one transaction."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from bot import scheduler
from bot.errors import CooldownActive, QueueLimitReached, QuotaExceeded
from bot.jobs import NewJob
from bot.quota import QuotaLimits, lock_user, period_of, reserve, resets_at, used, used_everywhere
from bot.storage import Dialect, Statement, Steps
from bot.store.inputs import insert_inputs

INSERT_JOB = (
    "INSERT INTO jobs (user_id, guild_id, channel_id, origin, provider, model, batch_key, "
    "request, target, max_attempts, timeout_seconds, fair_tag, priority, cost, quota_scope, "
    "quota_period, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "RETURNING job_id"
)


def _submit(dialect: Dialect, new: NewJob, limits: QuotaLimits, now: float) -> Steps[int]:
    user = new.requester.user_id
    period = period_of(now)
    yield from lock_user(dialect, user, now)
    state = yield Statement(
        "SELECT u.last_job_at, u.fair_finish, "
        "(SELECT COUNT(*) FROM jobs WHERE user_id = u.user_id AND status = 'queued'), "
        "(SELECT value FROM scheduler_state WHERE key = 'virtual_time') "
        "FROM users u WHERE u.user_id = ?",
        (user,),
    )
    assert state is not None  # the user's row was just made
    last_job_at, user_finish, waiting, virtual_time = state
    spent = yield from used(user, limits.scope, period)
    everywhere = None if limits.daily_cap is None else (yield from used_everywhere(user, period))
    _admit(
        new,
        limits,
        now,
        last_job_at=last_job_at,
        waiting=waiting,
        spent=spent,
        spent_everywhere=everywhere,
    )
    start, finish = scheduler.fair_tags(virtual_time, user_finish, waiting, limits.priority)
    inserted = yield Statement(
        INSERT_JOB,
        (
            user,
            new.requester.guild_id,
            new.requester.channel_id,
            new.origin,
            new.provider,
            new.model,
            new.batch_key,
            json.dumps(new.request.to_dict()),
            json.dumps(new.target),
            new.max_attempts,
            new.timeout_seconds,
            start,
            limits.priority,
            new.cost,
            limits.scope,
            period,
            now,
        ),
    )
    assert inserted is not None
    job_id = int(inserted[0])
    if new.requester.locale is not None:  # English (None) needs no column: older schemas too
        yield Statement(
            "UPDATE jobs SET locale = ? WHERE job_id = ?", (new.requester.locale, job_id)
        )
    yield from insert_inputs(job_id, new.request)
    yield reserve(
        user_id=user, scope=limits.scope, period=period, units=new.cost, job_id=job_id, now=now
    )
    yield Statement(
        "UPDATE users SET last_job_at = ?, fair_finish = ? WHERE user_id = ?",
        (now, finish, user),
    )
    return job_id


def _submit_all(
    dialect: Dialect, news: Sequence[NewJob], limits: QuotaLimits, now: float
) -> Steps[list[int]]:
    """Each job admitted and inserted in turn, in one transaction: the later ones see the
    earlier ones in the queue and the quota, and the cooldown applies to the command, once."""
    job_ids = []
    for index, new in enumerate(news):
        admitted = limits if index == 0 else dataclasses.replace(limits, cooldown=0.0)
        job_ids.append((yield from _submit(dialect, new, admitted, now)))
    return job_ids


def _admit(
    new: NewJob,
    limits: QuotaLimits,
    now: float,
    *,
    last_job_at: float | None,
    waiting: int,
    spent: int,
    spent_everywhere: int | None = None,
) -> None:
    """Refuse a request the user's cooldown, queue limit, quota here or cap across all
    servers does not allow."""
    if limits.cooldown and last_job_at is not None and now < last_job_at + limits.cooldown:
        raise CooldownActive(retry_at=last_job_at + limits.cooldown, cooldown=limits.cooldown)
    if waiting >= limits.max_queued:
        raise QueueLimitReached(limit=limits.max_queued)
    if spent + new.cost > limits.allowance:
        raise QuotaExceeded(
            cost=new.cost,
            remaining=max(0, limits.allowance - spent),
            allowance=limits.allowance,
            resets_at=resets_at(now),
        )
    cap = limits.daily_cap
    if cap is not None and spent_everywhere is not None and spent_everywhere + new.cost > cap:
        raise QuotaExceeded(
            cost=new.cost,
            remaining=max(0, cap - spent_everywhere),
            allowance=cap,
            resets_at=resets_at(now),
            everywhere=True,
        )
