"""The job state machine: submit and claim, finish, cancel, requeue and recover, each fenced
by job id and attempt, with quota settled in the same transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bot import scheduler
from bot.errors import InvalidTransition, JobNotFound
from bot.jobs import Job, JobStatus, NewJob, StoredImage, sources_of
from bot.quota import QuotaLimits, settle_in
from bot.storage import Row, SqlConnection
from bot.store.admission import _submit, _submit_all
from bot.store.base import StoreBase, _marks, _maybe, _one
from bot.store.inputs import fetch_in, read_inputs
from bot.store.protocol import Recovery


class JobLifecycle(StoreBase):
    """Every status change of a job: the moves in ``TRANSITIONS``, through ``_move``."""

    async def submit(self, new: NewJob, limits: QuotaLimits) -> Job:
        """Check cooldown, queue limit and quota, then insert the job and reserve its cost:
        one transaction, holding the user's row, so concurrent requests can never overdraw.
        On SQLite it runs in one hand-off to the database thread, so enqueueing stays cheap."""
        now = self._clock()
        job_id = await self._db.run(lambda dialect: _submit(dialect, new, limits, now))
        return _queued(new, job_id, now)

    async def submit_all(self, news: Sequence[NewJob], limits: QuotaLimits) -> list[Job]:
        """Several jobs of one command in one transaction: each within the queue limit and the
        quota, the cooldown checked once (before the first); all queued, or none."""
        now = self._clock()
        job_ids = await self._db.run(lambda dialect: _submit_all(dialect, news, limits, now))
        return [_queued(new, job_id, now) for new, job_id in zip(news, job_ids, strict=True)]

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

    async def _load(self, conn: SqlConnection, job_id: int) -> Job:
        row = await _one(conn, "SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return Job.from_row(row, await read_inputs(fetch_in(conn), job_id))


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


def _queued(new: NewJob, job_id: int, now: float) -> Job:
    """The job just inserted, as the store would read it back."""
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
        locale=new.requester.locale,
    )
