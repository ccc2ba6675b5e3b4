"""Result retention: images and members' input images of jobs finished longer ago than
``storage.keep_results_days`` are deleted in the background, a bounded batch per pass. The
jobs themselves stay (history, ETAs, reports), as do the quota ledger and the audit log;
results under an open report stay until it is closed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.errors import Refusal
from bot.i18n import lazy_t
from bot.jobs import Job, JobStatus, StoredImage
from bot.settings import StorageSettings
from bot.storage import SqlDatabase
from bot.storage.files import remove_folders
from engine import Mode

log = logging.getLogger(__name__)

DAY = 86400.0
BATCH = 500  # jobs pruned per pass, so one pass never holds the database for long
INTERVAL = 3600.0  # between passes once nothing is left over
BUSY_PAUSE = 1.0  # between passes while a backlog drains

PRUNABLE = (
    "SELECT job_id FROM jobs WHERE job_id IN "
    "(SELECT job_id FROM job_images UNION SELECT job_id FROM job_inputs "
    "UNION SELECT job_id FROM job_input_extras) "
    "AND status IN ('succeeded', 'failed', 'cancelled') AND delivered = 1 AND finished_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.job_id = jobs.job_id AND r.status = 'open') "
    "ORDER BY job_id LIMIT ?"
)


class ResultExpired(Refusal):
    def __init__(self, job_id: int, keep_days: float) -> None:
        self.job_id = job_id
        super().__init__(
            lazy_t(
                "Job #{job} has expired: this bot keeps results for {days} days, so its images "
                "are gone.",
                job=job_id,
                days=format(keep_days, "g"),
            )
            if keep_days > 0
            else lazy_t("Job #{job} has expired: its images are no longer stored.", job=job_id)
        )


def images_expired(job: Job, images: Sequence[StoredImage]) -> bool:
    """A finished job whose images retention deleted (a success always stores some)."""
    return job.status is JobStatus.SUCCEEDED and not images


def input_expired(job: Job) -> bool:
    """A job loaded with ``JobStore.get`` whose input images (its init image, references or
    control image) retention deleted."""
    request = job.request
    if not job.status.terminal:
        return False
    return (
        (request.mode is not Mode.TXT2IMG and not request.init_image)
        or len(request.reference_images) != len(request.references)
        or (request.control is not None and request.control_image is None)
    )


class Retention:
    def __init__(
        self,
        db: SqlDatabase,
        results_dir: Path,
        keep_days: float,
        *,
        batch: int = BATCH,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._results_dir = results_dir
        self._keep_days = keep_days
        self._batch = batch
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, db: SqlDatabase, storage: StorageSettings) -> Retention:
        return cls(db, storage.results_path, storage.keep_results_days)

    def start(self) -> None:
        if self._keep_days > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="result-retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def prune(self) -> int:
        """One pass: up to ``batch`` jobs lose their stored images (rows first, then files, so
        no row ever points at a deleted file). Returns how many jobs were pruned."""
        if self._keep_days <= 0:
            return 0
        cutoff = self._clock() - self._keep_days * DAY
        async with self._db.transaction() as conn:
            async with conn.execute(PRUNABLE, (cutoff, self._batch)) as cursor:
                job_ids = [int(row[0]) for row in await cursor.fetchall()]
            if job_ids:
                marks = ", ".join("?" * len(job_ids))
                for table in ("job_images", "job_inputs", "job_input_extras"):
                    await conn.execute(f"DELETE FROM {table} WHERE job_id IN ({marks})", job_ids)
        if job_ids:
            await asyncio.to_thread(
                remove_folders, [self._results_dir / str(i) for i in job_ids], "the expired results"
            )
            log.info("Deleted the stored images of %d job(s) past retention", len(job_ids))
        return len(job_ids)

    async def _run(self) -> None:
        while True:
            pruned = 0
            try:
                pruned = await self.prune()
            except Exception:
                log.exception("Pruning old results failed; trying again later")
            await asyncio.sleep(BUSY_PAUSE if pruned >= self._batch else self._interval)
