"""The durable job queue. Every status change goes through here, fenced by job id and attempt;
quota reservation, commit and refund share a transaction with the change they belong to."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot import scheduler
from bot.errors import (
    CooldownActive,
    InvalidTransition,
    JobNotFound,
    QueueLimitReached,
    QuotaExceeded,
)
from bot.jobs import Job, JobStatus, NewJob, QueuePosition, StoredImage, sources_of
from bot.quota import QuotaLimits, lock_user, period_of, reserve, resets_at, settle_in, used
from bot.storage import Dialect, Row, SqlConnection, SqlDatabase, Statement, Steps

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Recovery:
    requeued: int
    failed: int


class JobStore(Protocol):
    """What the service and the worker need of a queue, on SQLite or PostgreSQL."""

    async def submit(self, new: NewJob, limits: QuotaLimits) -> Job: ...
    async def claim(
        self, origin: str, capacity: scheduler.Capacity, only: Collection[int] | None = None
    ) -> list[Job]: ...
    async def running_counts(self) -> tuple[dict[str, int], dict[int, int]]: ...
    async def succeed(self, job: Job, images: Sequence[StoredImage]) -> None: ...
    async def fail(self, job: Job, error: str, *, retry_after: float | None = None) -> bool: ...
    async def finish_cancelled(self, job: Job) -> None: ...
    async def requeue(self, job: Job) -> None: ...
    async def cancel(self, job_id: int, user_id: int | None = None) -> JobStatus: ...
    async def recover(self, origin: str) -> Recovery: ...
    async def abandon(self, origin: str, created_before: float, reason: str) -> int: ...
    async def get(self, job_id: int) -> Job | None: ...
    async def images(self, job_id: int) -> list[StoredImage]: ...
    async def undelivered(self, origin: str, only: Collection[int] | None = None) -> list[Job]: ...
    async def mark_delivered(self, job_id: int, reference: str | None) -> bool: ...
    async def update_target(self, job_id: int, changes: dict[str, Any]) -> None: ...
    async def active(self, guild_id: int | None = None, limit: int = 25) -> list[Job]: ...
    async def depth(self) -> dict[str, tuple[int, int]]: ...
    async def position(self, job_id: int, concurrency: int) -> QueuePosition: ...
    async def next_ready_at(self, origin: str) -> float | None: ...
    async def cancel_requested(self, job_ids: Collection[int]) -> set[int]: ...
    async def running(self, origin: str) -> list[Job]: ...
    async def overdue(self, grace: float) -> list[Job]: ...


class SqlJobStore:
    def __init__(self, db: SqlDatabase, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock

    async def submit(self, new: NewJob, limits: QuotaLimits) -> Job:
        """Check cooldown, queue limit and quota, then insert the job and reserve its cost:
        one transaction, holding the user's row, so concurrent requests can never overdraw.
        On SQLite it runs in one hand-off to the database thread, so enqueueing stays cheap."""
        now = self._clock()
        job_id = await self._db.run(lambda dialect: _submit(dialect, new, limits, now))
        return Job(
            job_id=job_id,
            user_id=new.requester.user_id,
            guild_id=new.requester.guild_id,
            channel_id=new.requester.channel_id,
            origin=new.origin,
            provider=new.provider,
            model=new.model,
            batch_key=new.batch_key,
            request=new.request,
            target=dict(new.target),
            status=JobStatus.QUEUED,
            attempt=0,
            max_attempts=new.max_attempts,
            timeout_seconds=new.timeout_seconds,
            cost=new.cost,
            cancel_requested=False,
            error=None,
            created_at=now,
            started_at=None,
            finished_at=None,
            delivered=False,
        )

    async def running_counts(self) -> tuple[dict[str, int], dict[int, int]]:
        """Running jobs per provider and per user, across every origin (they share the GPU)."""
        rows = await self._db.fetchall(
            "SELECT provider, user_id, COUNT(*) AS n FROM jobs WHERE status = 'running' "
            "GROUP BY provider, user_id"
        )
        per_provider: dict[str, int] = {}
        per_user: dict[int, int] = {}
        for row in rows:
            per_provider[row["provider"]] = per_provider.get(row["provider"], 0) + row["n"]
            per_user[row["user_id"]] = per_user.get(row["user_id"], 0) + row["n"]
        return per_provider, per_user

    async def claim(
        self, origin: str, capacity: scheduler.Capacity, only: Collection[int] | None = None
    ) -> list[Job]:
        """Start the fairest eligible job, with compatible followers when its provider batches."""
        providers = capacity.open_providers()
        if not providers or (only is not None and not only):
            return []
        now = self._clock()
        where = [
            "status = 'queued'",
            "origin = ?",
            "not_before <= ?",
            f"provider IN ({_marks(providers)})",
        ]
        params: list[object] = [origin, now, *providers]
        busy = capacity.busy_users()
        if busy:
            where.append(f"user_id NOT IN ({_marks(busy)})")
            params += busy
        if only is not None:
            where.append(f"job_id IN ({_marks(only)})")
            params += list(only)
        condition = " AND ".join(where)
        lock = self._db.dialect.skip_locked  # two claimers never take the same job
        async with self._db.transaction() as conn:
            head = await _maybe(
                conn,
                f"SELECT * FROM jobs WHERE {condition} ORDER BY fair_tag, job_id LIMIT 1{lock}",
                params,
            )
            if head is None:
                return []
            chosen = [head]
            batch_limit = capacity.max_batch.get(head["provider"], 1)
            if batch_limit > 1 and head["batch_key"]:
                async with conn.execute(
                    f"SELECT * FROM jobs WHERE {condition} AND provider = ? AND batch_key = ? "
                    f"AND job_id != ? ORDER BY fair_tag, job_id LIMIT ?{lock}",
                    [*params, head["provider"], head["batch_key"], head["job_id"], batch_limit * 4],
                ) as cursor:
                    followers = list(await cursor.fetchall())
                views = scheduler.fill_batch(
                    _RowView(head), [_RowView(row) for row in followers], capacity
                )
                chosen = [view.row for view in views]
            ids = [row["job_id"] for row in chosen]
            await conn.execute(
                f"UPDATE jobs SET status = 'running', attempt = attempt + 1, started_at = ?, "
                f"error = NULL WHERE job_id IN ({_marks(ids)}) AND status = 'queued'",
                [now, *ids],
            )
            await conn.execute(
                "UPDATE scheduler_state SET value = ? WHERE key = 'virtual_time' AND value < ?",
                (head["fair_tag"], head["fair_tag"]),
            )
            return [await self._load(conn, job_id) for job_id in ids]

    async def succeed(self, job: Job, images: Sequence[StoredImage]) -> None:
        now = self._clock()
        async with self._db.transaction() as conn:
            await _move(conn, job.job_id, JobStatus.SUCCEEDED, fence=job.attempt, finished_at=now)
            await conn.executemany(
                "INSERT INTO job_images (job_id, idx, seed, path, width, height, flagged) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (job.job_id, i.index, i.seed, i.path, i.width, i.height, i.flagged)
                    for i in images
                ],
            )
            await settle_in(conn, job.job_id, refund=False, now=now)

    async def fail(self, job: Job, error: str, *, retry_after: float | None = None) -> bool:
        """Retry later when ``retry_after`` is given and attempts remain, else fail and refund.
        Returns whether the job went back to the queue."""
        now = self._clock()
        async with self._db.transaction() as conn:
            if retry_after is not None and job.attempt < job.max_attempts:
                await _move(
                    conn,
                    job.job_id,
                    JobStatus.QUEUED,
                    fence=job.attempt,
                    not_before=now + retry_after,
                    error=error,
                )
                return True
            await _move(
                conn, job.job_id, JobStatus.FAILED, fence=job.attempt, finished_at=now, error=error
            )
            await settle_in(conn, job.job_id, refund=True, now=now)
            return False

    async def finish_cancelled(self, job: Job) -> None:
        now = self._clock()
        async with self._db.transaction() as conn:
            await _move(conn, job.job_id, JobStatus.CANCELLED, fence=job.attempt, finished_at=now)
            await settle_in(conn, job.job_id, refund=True, now=now)

    async def requeue(self, job: Job) -> None:
        """Put a running job back untouched (shutdown): this attempt does not count."""
        async with self._db.transaction() as conn:
            await _move(
                conn, job.job_id, JobStatus.QUEUED, fence=job.attempt, attempt=job.attempt - 1
            )

    async def cancel(self, job_id: int, user_id: int | None = None) -> JobStatus:
        """Cancel a queued job at once (refunded); flag a running one for its worker to stop.
        ``user_id`` restricts to that user's jobs. Returns the status the job is left in."""
        now = self._clock()
        lock = self._db.dialect.for_update
        async with self._db.transaction() as conn:
            row = await _maybe(
                conn, f"SELECT status, user_id FROM jobs WHERE job_id = ?{lock}", (job_id,)
            )
            if row is None or (user_id is not None and row["user_id"] != user_id):
                raise JobNotFound(job_id)
            status = JobStatus(row["status"])
            if status is JobStatus.QUEUED:
                await _move(conn, job_id, JobStatus.CANCELLED, finished_at=now, cancel_requested=1)
                await settle_in(conn, job_id, refund=True, now=now)
                return JobStatus.CANCELLED
            if status is JobStatus.RUNNING:
                await conn.execute(
                    "UPDATE jobs SET cancel_requested = 1 WHERE job_id = ?", (job_id,)
                )
            return status

    async def recover(self, origin: str) -> Recovery:
        """After a crash: jobs left running go back to the queue, or fail and are refunded once
        their attempts are spent."""
        now = self._clock()
        lock = self._db.dialect.for_update
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT job_id, attempt, max_attempts, cancel_requested FROM jobs "
                f"WHERE status = 'running' AND origin = ?{lock}",
                (origin,),
            ) as cursor:
                rows = list(await cursor.fetchall())
            requeued = failed = 0
            for row in rows:
                job_id = row["job_id"]
                if row["cancel_requested"]:
                    await _move(conn, job_id, JobStatus.CANCELLED, finished_at=now)
                    await settle_in(conn, job_id, refund=True, now=now)
                    failed += 1
                elif row["attempt"] < row["max_attempts"]:
                    await _move(conn, job_id, JobStatus.QUEUED)
                    requeued += 1
                else:
                    error = f"Interrupted by a restart on each of {row['attempt']} attempts."
                    await _move(conn, job_id, JobStatus.FAILED, finished_at=now, error=error)
                    await settle_in(conn, job_id, refund=True, now=now)
                    failed += 1
        return Recovery(requeued=requeued, failed=failed)

    async def abandon(self, origin: str, created_before: float, reason: str) -> int:
        """Fail and refund unfinished jobs whose owner is gone (a console run that was killed)."""
        now = self._clock()
        lock = self._db.dialect.for_update
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT job_id FROM jobs WHERE origin = ? AND status IN ('queued', 'running') "
                f"AND created_at < ?{lock}",
                (origin, created_before),
            ) as cursor:
                ids = [row[0] for row in await cursor.fetchall()]
            for job_id in ids:
                await _move(conn, job_id, JobStatus.FAILED, finished_at=now, error=reason)
                await settle_in(conn, job_id, refund=True, now=now)
        return len(ids)

    async def get(self, job_id: int) -> Job | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        if row is None:
            return None
        image = await self._db.fetchone("SELECT image FROM job_inputs WHERE job_id = ?", (job_id,))
        return Job.from_row(row, image["image"] if image else None)

    async def images(self, job_id: int) -> list[StoredImage]:
        rows = await self._db.fetchall(
            "SELECT idx, seed, path, width, height, flagged FROM job_images WHERE job_id = ? "
            "ORDER BY idx",
            (job_id,),
        )
        return [
            StoredImage(r["idx"], r["seed"], r["path"], r["width"], r["height"], bool(r["flagged"]))
            for r in rows
        ]

    async def undelivered(self, origin: str, only: Collection[int] | None = None) -> list[Job]:
        where = "origin = ? AND delivered = 0 AND status IN ('succeeded', 'failed', 'cancelled')"
        params: list[object] = [origin]
        if only is not None:
            where += f" AND job_id IN ({_marks(only)})"
            params += list(only)
        rows = await self._db.fetchall(f"SELECT * FROM jobs WHERE {where} ORDER BY job_id", params)
        return [Job.from_row(row) for row in rows]

    async def mark_delivered(self, job_id: int, reference: str | None) -> bool:
        """Record the delivery and set the flag together; False if it was already delivered."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE jobs SET delivered = 1 WHERE job_id = ? AND delivered = 0", (job_id,)
            )
            if cursor.rowcount == 0:
                return False
            await conn.execute(
                "INSERT INTO deliveries (job_id, delivered_at, reference) VALUES (?, ?, ?)",
                (job_id, self._clock(), reference),
            )
            return True

    async def update_target(self, job_id: int, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into where the job is delivered (the message it shows in), as a
        JSON merge patch: None removes a key."""
        lock = self._db.dialect.for_update
        async with self._db.transaction() as conn:
            row = await _maybe(conn, f"SELECT target FROM jobs WHERE job_id = ?{lock}", (job_id,))
            if row is None:
                return
            target = _merge_patch(json.loads(row["target"]), changes)
            await conn.execute(
                "UPDATE jobs SET target = ? WHERE job_id = ?", (json.dumps(target), job_id)
            )

    async def active(self, guild_id: int | None = None, limit: int = 25) -> list[Job]:
        """Running then queued jobs in the order they will run; one guild's, or all."""
        where = "status IN ('queued', 'running')"
        params: list[object] = []
        if guild_id is not None:
            where += " AND guild_id = ?"
            params.append(guild_id)
        rows = await self._db.fetchall(
            f"SELECT * FROM jobs WHERE {where} "
            "ORDER BY status = 'queued', fair_tag, job_id LIMIT ?",
            [*params, limit],
        )
        return [Job.from_row(row) for row in rows]

    async def depth(self) -> dict[str, tuple[int, int]]:
        """(queued, running) per provider."""
        rows = await self._db.fetchall(
            "SELECT provider, SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END) AS queued, "
            "SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END) AS running "
            "FROM jobs WHERE status IN ('queued', 'running') GROUP BY provider"
        )
        return {row["provider"]: (int(row["queued"]), int(row["running"])) for row in rows}

    async def position(self, job_id: int, concurrency: int) -> QueuePosition:
        row = await self._db.fetchone(
            "SELECT status, provider, model, fair_tag FROM jobs WHERE job_id = ?", (job_id,)
        )
        if row is None:
            raise JobNotFound(job_id)
        status = JobStatus(row["status"])
        mean = await self.mean_duration(row["provider"], row["model"])
        if status is not JobStatus.QUEUED:
            return QueuePosition(job_id, status, 0, mean if status is JobStatus.RUNNING else 0.0)
        ahead = await self._db.fetchone(
            "SELECT COUNT(*) AS everyone, "
            "COALESCE(SUM(CASE WHEN provider = ? THEN 1 ELSE 0 END), 0) AS same FROM jobs "
            "WHERE status = 'queued' AND (fair_tag < ? OR (fair_tag = ? AND job_id < ?))",
            (row["provider"], row["fair_tag"], row["fair_tag"], job_id),
        )
        assert ahead is not None
        running = await self._db.fetchone(
            "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND provider = ?",
            (row["provider"],),
        )
        busy = int(running[0]) if running else 0
        eta = scheduler.estimate_wait(ahead["same"] + busy, concurrency, mean)
        return QueuePosition(job_id, status, int(ahead["everyone"]), eta)

    async def mean_duration(self, provider: str, model: str, sample: int = 20) -> float | None:
        """Mean run time of the model's latest successes, else the provider's, else unknown."""
        for sql, params in (
            ("provider = ? AND model = ?", (provider, model)),
            ("provider = ?", (provider,)),
        ):
            row = await self._db.fetchone(
                "SELECT AVG(d), COUNT(*) FROM (SELECT finished_at - started_at AS d FROM jobs "
                f"WHERE status = 'succeeded' AND {sql} ORDER BY finished_at DESC LIMIT ?) "
                "AS recent",
                (*params, sample),
            )
            if row is not None and row[1]:
                return float(row[0])
        return None

    async def next_ready_at(self, origin: str) -> float | None:
        """When the earliest job still held back by a retry delay becomes eligible (jobs
        already eligible but waiting for a slot are woken by the job that frees it)."""
        row = await self._db.fetchone(
            "SELECT MIN(not_before) FROM jobs WHERE status = 'queued' AND origin = ? "
            "AND not_before > ?",
            (origin, self._clock()),
        )
        return float(row[0]) if row is not None and row[0] is not None else None

    async def cancel_requested(self, job_ids: Collection[int]) -> set[int]:
        rows = await self._db.fetchall(
            f"SELECT job_id FROM jobs WHERE cancel_requested = 1 AND job_id IN ({_marks(job_ids)})",
            list(job_ids),
        )
        return {row[0] for row in rows}

    async def running(self, origin: str) -> list[Job]:
        """Jobs of ``origin`` that are running (in the scaled mode: released to GPU workers);
        without their input images."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE status = 'running' AND origin = ? ORDER BY job_id", (origin,)
        )
        return [Job.from_row(row) for row in rows]

    async def overdue(self, grace: float) -> list[Job]:
        """Running jobs past their start plus their timeout plus ``grace``: whatever their worker
        or transport says, nothing will settle them now (a watchdog's list)."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE status = 'running' "
            "AND started_at + timeout_seconds + ? < ? ORDER BY job_id",
            (grace, self._clock()),
        )
        return [Job.from_row(row) for row in rows]

    async def _load(self, conn: SqlConnection, job_id: int) -> Job:
        row = await _one(conn, "SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        image = await _maybe(conn, "SELECT image FROM job_inputs WHERE job_id = ?", (job_id,))
        return Job.from_row(row, image["image"] if image else None)


SqliteJobStore = SqlJobStore  # the name it had when SQLite was the only backend

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
    _admit(new, limits, now, last_job_at=last_job_at, waiting=waiting, spent=spent)
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
    if new.request.init_image is not None:
        yield Statement(
            "INSERT INTO job_inputs (job_id, image) VALUES (?, ?)",
            (job_id, new.request.init_image),
        )
    yield reserve(
        user_id=user, scope=limits.scope, period=period, units=new.cost, job_id=job_id, now=now
    )
    yield Statement(
        "UPDATE users SET last_job_at = ?, fair_finish = ? WHERE user_id = ?",
        (now, finish, user),
    )
    return job_id


def _admit(
    new: NewJob,
    limits: QuotaLimits,
    now: float,
    *,
    last_job_at: float | None,
    waiting: int,
    spent: int,
) -> None:
    """Refuse a request the user's cooldown, queue limit or quota does not allow."""
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


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch (what SQLite's json_patch does): objects merge key by key,
    None removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch(merged.get(key), value)
    return merged


@dataclass(frozen=True, slots=True)
class _RowView:
    """A queued row seen through the scheduler's ``Queued`` protocol."""

    row: Row

    @property
    def job_id(self) -> int:
        return int(self.row["job_id"])

    @property
    def user_id(self) -> int:
        return int(self.row["user_id"])

    @property
    def provider(self) -> str:
        return str(self.row["provider"])

    @property
    def batch_key(self) -> str:
        return str(self.row["batch_key"])


async def _move(
    conn: SqlConnection,
    job_id: int,
    target: JobStatus,
    *,
    fence: int | None = None,
    **columns: object,
) -> None:
    """The one place a job changes status. Only the moves in ``TRANSITIONS`` happen, and with
    ``fence`` only for that attempt, so a stale worker cannot finish a retried job."""
    sources = sources_of(target)
    sets = ", ".join(f"{name} = ?" for name in ["status", *columns])
    where = f"job_id = ? AND status IN ({_marks(sources)})"
    params: list[object] = [target.value, *columns.values(), job_id, *sources]
    if fence is not None:
        where += " AND attempt = ?"
        params.append(fence)
    cursor = await conn.execute(f"UPDATE jobs SET {sets} WHERE {where}", params)
    if cursor.rowcount == 0:
        row = await _maybe(conn, "SELECT status FROM jobs WHERE job_id = ?", (job_id,))
        raise InvalidTransition(job_id, target.value, row["status"] if row else None)


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" * len(values))


async def _maybe(conn: SqlConnection, sql: str, params: Sequence[object] = ()) -> Row | None:
    async with conn.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _one(conn: SqlConnection, sql: str, params: Sequence[object] = ()) -> Row:
    row = await _maybe(conn, sql, params)
    if row is None:
        raise LookupError(sql)
    return row
