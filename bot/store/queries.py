"""Queries over the queue: what is active, its depth, a job's position and estimate, and the
jobs a worker or watchdog looks for."""

from __future__ import annotations

from collections.abc import Collection

from bot import scheduler
from bot.errors import JobNotFound
from bot.jobs import Job, JobStatus, QueuePosition
from bot.store.base import StoreBase, _marks


class JobQueries(StoreBase):
    """Read-only views of the queue."""

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
        """Jobs of any origin still running ``grace`` seconds past their own time limit: their
        run or its settling is stuck, or the process that ran them lost them."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE status = 'running' "
            "AND started_at + timeout_seconds < ? ORDER BY job_id",
            (self._clock() - grace,),
        )
        return [Job.from_row(row) for row in rows]
