"""The scheduler of the scaled mode. Every bot cluster runs a candidate; one leads, chosen by a
PostgreSQL advisory lock (held while its connection lives, so a dead leader's lock goes with
it and another candidate takes over within a poll).

The leader keeps fairness and batching ours: accepted jobs wait in Postgres, and it releases
them to the GPU workers with the store's own ``claim`` (the policy code of the embedded mode:
round-robin across users, compatible batches) only while a worker slot is free, so a newcomer's
job starts at the next free slot instead of behind a backlog. It then watches the tasks it
released and settles each job in Postgres, fenced by (job id, attempt):

- a task that completed gives each job its images, or the error the worker reported;
- a task aborted by saq's sweeper (its worker stopped beating) runs again as a new attempt;
- a task Redis no longer knows (restarted empty, or never enqueued) goes back to the queue;
- a job whose member cancelled it is aborted in saq and refunded.

Delivery to Discord is not its business: each cluster delivers the jobs of its own shards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import asyncpg

from bot.errors import InvalidTransition, StorageUnavailable
from bot.jobs import Job, StoredImage
from bot.policy import ALL as ALL_PROVIDERS
from bot.policy import Policies
from bot.providers import Providers
from bot.scale.results import BadResult, ResultReader, outcome_of
from bot.scale.transport import Task, TaskState, TaskStatus, Transport, TransportUnavailable
from bot.settings import QueueSettings, ScaleSettings
from bot.settling import settle
from bot.store import JobStore
from engine import EngineError, GenerationCancelled, ProviderUnavailable, RateLimited

log = logging.getLogger(__name__)

LEADER_LOCK = 0x696D_6167  # the advisory lock key ("imag")
MISSING_GRACE = 10.0  # seconds a released job may be unknown to Redis (the release in flight)
WORKER_LOST = "The GPU worker running it stopped; it will run again."
OVERDUE = "It ran past its time limit without an answer from its GPU worker."


class Leadership:
    """A session-level advisory lock on a connection of its own."""

    def __init__(self, dsn: str, key: int = LEADER_LOCK) -> None:
        self._dsn = dsn
        self._key = key
        self._conn: asyncpg.Connection | None = None

    async def hold(self) -> bool:
        """True while this process leads: takes the lock if free, checks it is still held."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = None
                conn = await asyncpg.connect(self._dsn, timeout=5)
                if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key):
                    await conn.close()
                    return False
                self._conn = conn
                log.info("This process now leads the scheduler")
                return True
            await self._conn.fetchval("SELECT 1", timeout=5)
            return True
        except (OSError, asyncpg.PostgresError, TimeoutError):
            await self.release()
            return False

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


class Dispatcher:
    def __init__(
        self,
        store: JobStore,
        providers: Providers,
        transport: Transport,
        policies: Policies,
        leadership: Leadership,
        *,
        queue: QueueSettings,
        scale: ScaleSettings,
        results_dir: Path,
        result_pixels: int,
        origin: str,
    ) -> None:
        self._store = store
        self._providers = providers
        self._transport = transport
        self._policies = policies
        self._leadership = leadership
        self._queue = queue
        self._scale = scale
        self._results = ResultReader(results_dir, scale.blob_dir, result_pixels)
        self._origin = origin
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_sweep = 0.0
        self.leading = False
        self.led = asyncio.Event()  # set once this process has led
        self._watcher: asyncio.Task[None] | None = None
        self.on_settled: Callable[[], None] | None = None  # wakes this process's deliveries

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dispatcher")
        self._watcher = asyncio.create_task(self._transport.watch(self.wake), name="task-watch")

    async def stop(self) -> None:
        tasks = [task for task in (self._task, self._watcher) if task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await self._leadership.release()
        self.leading = False

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        complaint = ""
        while True:
            try:
                self.leading = await self._leadership.hold()
                if self.leading:
                    self.led.set()
                    await self.tick()
                if complaint:
                    log.info("The scheduler carries on")
                complaint = ""
            except (TransportUnavailable, StorageUnavailable, OSError) as err:
                if str(err) != complaint:  # once per outage, not every poll
                    log.warning("The scheduler waits: %s", err)
                    complaint = str(err)
            except Exception:
                log.exception("The scheduler loop failed; trying again shortly")
            wait = self._scale.dispatch_seconds * (1 if self.leading else 2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()

    async def tick(self) -> None:
        """One round: settle what finished, then what is overdue, release what fits, sweep
        now and then."""
        try:
            await self._watch()
        finally:  # Redis down or not
            await self._watchdog()
        await self._release()
        now = time.monotonic()
        if now - self._last_sweep >= self._scale.sweep_seconds:
            self._last_sweep = now
            await self._transport.sweep([entry.name for entry in self._providers])
            if self._scale.blob_dir is not None:
                await asyncio.to_thread(
                    prune_blobs, self._scale.blob_dir, self._scale.result_ttl_seconds
                )

    async def _release(self) -> None:
        paused = await self._policies.paused()
        if ALL_PROVIDERS in paused:
            return
        slots, in_flight = await self._transport.capacity([entry.name for entry in self._providers])
        while True:
            _, per_user = await self._store.running_counts()
            capacity = self._providers.capacity(
                in_flight, per_user, self._queue.max_running_per_user, paused, slots=slots
            )
            claimed = await self._store.claim(self._origin, capacity)
            if not claimed:
                return
            provider = claimed[0].provider
            if not self._providers.begin(provider):  # its breaker opened meanwhile
                for job in claimed:
                    await self._store.requeue(job)
                return
            task = Task(provider, tuple(claimed), max(job.timeout_seconds for job in claimed))
            try:
                await self._transport.release(task)
            except TransportUnavailable:
                for job in claimed:  # they wait in Postgres until Redis is back
                    await self._store.requeue(job)
                self._providers.record(provider, False)  # frees the trial, if it was one
                raise
            in_flight[provider] = in_flight.get(provider, 0) + 1
            log.info("Released %s: job(s) %s", task.key, [job.job_id for job in claimed])

    async def _watch(self) -> None:
        running = await self._store.running(self._origin)
        if not running:
            return
        states = await self._transport.states([job.job_id for job in running])
        by_task: dict[str, list[Job]] = {}
        for job in running:
            by_task.setdefault(states[job.job_id].key, []).append(job)
        now = time.time()
        for job in running:
            state = states[job.job_id]
            if not state.carries(job) and state.status is not TaskStatus.MISSING:
                state = TaskState(state.key, TaskStatus.MISSING)  # a mapping from an old attempt
            try:
                await self._follow(job, state, by_task.get(state.key, []), now)
            except (TransportUnavailable, StorageUnavailable, OSError):
                raise  # the whole round waits
            except Exception as err:  # one job's trouble must not hold up the others
                log.exception("Settling job %d attempt %d failed; failing it", *_id(job))
                await self._give_up(job, err)

    async def _watchdog(self) -> None:
        """A job still running past its timeout plus a grace is stuck, whatever Redis says (a
        task record left at "active", a worker hung without dying): it is settled as a lost
        run (again as a new attempt, or failed and refunded once its attempts are spent) and
        its task aborted, so a late result is dropped by the attempt fence."""
        for job in await self._store.overdue(self._scale.watchdog_grace_seconds):
            if job.origin != self._origin:
                continue
            log.warning(
                "Job %d attempt %d is still running %g s past its %g-second limit; aborting it",
                *_id(job),
                self._scale.watchdog_grace_seconds,
                job.timeout_seconds,
            )
            await self._settle(job, ProviderUnavailable(OVERDUE))
            with contextlib.suppress(TransportUnavailable):  # the fence covers a late result
                state = (await self._transport.states([job.job_id]))[job.job_id]
                if state.carries(job) and state.status in (TaskStatus.QUEUED, TaskStatus.ACTIVE):
                    await self._transport.abort(state, "past its time limit")
                await self._transport.forget([job.job_id])
            if self.on_settled is not None:
                self.on_settled()

    async def _follow(self, job: Job, state: TaskState, siblings: list[Job], now: float) -> None:
        status = state.status
        heartbeat = self._scale.heartbeat_seconds
        if status in (TaskStatus.QUEUED, TaskStatus.ACTIVE):
            if job.cancel_requested and all(sibling.cancel_requested for sibling in siblings):
                await self._transport.abort(state, "cancelled by the member")
            return
        if status is TaskStatus.ABORTING and now - state.touched < 2 * heartbeat:
            return  # the worker has a moment to confirm
        if status is TaskStatus.MISSING:
            if job.started_at is not None and now - job.started_at < MISSING_GRACE:
                return
            log.warning("Job %d attempt %d is unknown to Redis; back to the queue", *_id(job))
            with contextlib.suppress(InvalidTransition):
                await self._store.requeue(job)
            await self._transport.forget([job.job_id])
            return
        if status is TaskStatus.COMPLETE:
            await self._settle_complete(job, state)
        elif status is TaskStatus.FAILED:
            log.error("Task %s failed in its worker: %s", state.key, state.error)
            await self._settle(job, RuntimeError(f"task {state.key} failed"))
        else:  # aborted: by a cancel, or swept because its worker died
            error: BaseException = (
                GenerationCancelled() if job.cancel_requested else ProviderUnavailable(WORKER_LOST)
            )
            await self._settle(job, error)
        await self._transport.forget([job.job_id])
        if self.on_settled is not None:
            self.on_settled()

    async def _give_up(self, job: Job, error: Exception) -> None:
        try:
            await self._settle(job, error, record=False)
            await self._transport.forget([job.job_id])
        except (TransportUnavailable, StorageUnavailable, OSError):
            raise
        except Exception:
            log.exception("Job %d attempt %d could not be failed either", *_id(job))
        if self.on_settled is not None:
            self.on_settled()

    async def _settle_complete(self, job: Job, state: TaskState) -> None:
        """The worker's outcome for the job; a result that cannot be read, verified or stored
        fails this job alone (refunded, its member told)."""
        try:
            entry = outcome_of(state.result, job)
            if "images" not in entry:
                await self._settle(job, error_from(entry["error"]))
                return
            if job.cancel_requested:  # its images are not wanted: nothing to read
                await self._settle(job, GenerationCancelled())
                return
            stored = await asyncio.to_thread(self._results.store, job, state.key, entry)
        except BadResult as err:
            log.error("Job %d attempt %d: task %s %s", *_id(job), state.key, err)
            await self._settle(job, err, record=False)
            return
        finally:
            await asyncio.to_thread(self._results.discard, state.key, job.job_id)
        self._providers.record(job.provider, True)
        await settle(
            self._store,
            job,
            None,
            cancelled=job.cancel_requested,
            save=lambda: _stored(stored),
            retry_backoff=self._queue.retry_backoff_seconds,
        )

    async def _settle(self, job: Job, error: BaseException, *, record: bool = True) -> None:
        if record and not isinstance(error, GenerationCancelled):
            self._providers.record(job.provider, False, error)
        await settle(
            self._store,
            job,
            error,
            cancelled=job.cancel_requested,
            save=None,
            retry_backoff=self._queue.retry_backoff_seconds,
        )


def prune_blobs(folder: Path, older_than: float) -> None:
    """Remove task folders nobody settled (a result dropped as stale) once Redis would have
    forgotten the task too."""
    if not folder.is_dir():
        return
    cutoff = time.time() - older_than
    for task in folder.iterdir():
        with contextlib.suppress(OSError):
            if task.lstat().st_mtime >= cutoff:
                continue
            if task.is_dir() and not task.is_symlink():
                shutil.rmtree(task)  # which removes links inside, never what they point at
            else:
                task.unlink()


async def _stored(images: list[StoredImage]) -> list[StoredImage]:
    return images


def error_from(data: Mapping[str, Any]) -> BaseException:
    """The error a worker described (``gpu.describe_error``), as the embedded worker sees it."""
    kind = data.get("kind")
    message = str(data.get("message") or "")
    if kind == "cancelled":
        return GenerationCancelled()
    if kind == "timeout":
        return TimeoutError()
    if kind == "retryable":
        retry_after = data.get("retry_after")
        if retry_after is not None:
            return RateLimited(message, retry_after=float(retry_after))
        return ProviderUnavailable(message)
    if kind == "engine":
        return EngineError(message)
    return RuntimeError("the worker hit an unexpected error")


def _id(job: Job) -> tuple[int, int]:
    return job.job_id, job.attempt
