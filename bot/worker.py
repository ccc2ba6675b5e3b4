"""The worker: claims jobs in fair order, runs providers with timeout and cancel, stores
results, and hands every finished job to a sink exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path

from bot.control_maps import map_path, map_preview
from bot.deliveries import Deliveries, ResultSink
from bot.describing import caption_of, describe
from bot.errors import InvalidTransition
from bot.freespace import SpaceGuard
from bot.images import encode_png, parameters_text, write_atomically
from bot.jobs import Job, StoredImage
from bot.policy import ALL as ALL_PROVIDERS
from bot.providers import Providers
from bot.service import QueueEvents
from bot.settings import QueueSettings
from bot.settling import settle
from bot.store import JobStore
from bot.watchdog import OVERDUE_GRACE, settle_overdue
from engine import CancelToken, GenerationResult, Mode, Progress, Provider
from engine.deadline import run_within
from engine.types import RunId

log = logging.getLogger(__name__)

CANCEL_GRACE = 5.0


class _ProgressRelay:
    """Takes progress from any thread; forwards the latest to the sink at most every interval."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._latest: Progress | None = None
        self._changed = asyncio.Event()

    def __call__(self, progress: Progress) -> None:
        self._loop.call_soon_threadsafe(self._update, progress)

    def _update(self, progress: Progress) -> None:
        self._latest = progress
        self._changed.set()

    async def forward(self, sink: ResultSink, job: Job, interval: float) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._latest is not None:
                try:
                    await sink.progress(job, self._latest)
                except Exception:
                    log.warning("Progress report for job %d failed", job.job_id, exc_info=True)
            await asyncio.sleep(interval)


class Worker:
    def __init__(
        self,
        store: JobStore,
        providers: Providers,
        sink: ResultSink,
        queue: QueueSettings,
        results_dir: Path,
        *,
        origin: str,
        events: QueueEvents | None = None,
        only: Collection[int] | None = None,
        progress_interval: float = 3.0,
        paused: Callable[[], Awaitable[frozenset[str]]] | None = None,
        space: SpaceGuard | None = None,
        overdue_grace: float = OVERDUE_GRACE,
    ) -> None:
        self._store = store
        self._space = space
        self._overdue_grace = overdue_grace
        self._next_watch = 0.0
        self._paused = paused
        self._providers = providers
        self._sink = sink
        self._queue = queue
        self._results_dir = results_dir
        self._origin = origin
        self._only = only
        self._progress_interval = progress_interval
        self._wake = asyncio.Event()
        self._accepting = False
        self._loop_task: asyncio.Task[None] | None = None
        self._running: dict[asyncio.Task[None], list[Job]] = {}
        self._unsettled: set[int] = set()  # claimed jobs whose outcome is not in the store yet
        self._tokens: dict[int, CancelToken] = {}
        self._deliveries = Deliveries(store, sink)
        self._shutting_down = False
        if events is not None:
            events.submitted.append(self.wake)
            events.cancelled.append(self.cancel)

    async def start(self) -> None:
        """Sweep what a crash left behind, then start taking jobs."""
        if self._only is None:
            recovery = await self._store.recover(self._origin)
            if recovery.requeued or recovery.failed:
                log.warning(
                    "Recovered after an unclean stop: %d job(s) requeued, %d failed and refunded",
                    recovery.requeued,
                    recovery.failed,
                )
        self._accepting = True
        self._loop_task = asyncio.create_task(self._run(), name=f"worker-{self._origin}")

    def wake(self) -> None:
        self._wake.set()

    def cancel(self, job_id: int) -> None:
        """Stop a job: its token first, the task itself if the provider does not listen. A
        token set before the job's task starts is picked up when it does."""
        self._tokens.setdefault(job_id, CancelToken()).cancel()
        for task, jobs in self._running.items():
            if len(jobs) == 1 and jobs[0].job_id == job_id:
                asyncio.get_running_loop().call_later(CANCEL_GRACE, task.cancel)

    @property
    def busy(self) -> int:
        return sum(len(jobs) for jobs in self._running.values())

    async def stop(self, grace: float | None = None) -> None:
        """Take no new work, give running jobs ``grace`` seconds, then put them back queued."""
        grace = self._queue.shutdown_grace_seconds if grace is None else grace
        self._accepting = False
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._running:
            if self._unsettled:  # not for a job that has only its delivery left
                log.info("Waiting up to %.0f s for %d running job(s)", grace, len(self._unsettled))
            _, pending = await asyncio.wait(list(self._running), timeout=grace)
            if pending:
                self._shutting_down = True
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        await self._deliver_pending()
        while self._accepting:
            try:
                claimed = await self._claim()
                if not claimed:
                    await self._idle()
                    continue
            except Exception:
                log.exception("The worker loop failed; trying again shortly")
                await asyncio.sleep(self._queue.poll_seconds)
                continue
            for job in claimed:
                if job.cancel_requested:
                    self.cancel(job.job_id)
            task = asyncio.create_task(self._execute(claimed), name=f"job-{claimed[0].job_id}")
            self._running[task] = claimed
            self._unsettled.update(job.job_id for job in claimed)
            task.add_done_callback(self._finished)

    async def _claim(self) -> list[Job]:
        paused = await self._paused() if self._paused is not None else frozenset()
        if ALL_PROVIDERS in paused or (self._space is not None and await self._space.check()):
            return []
        per_provider, per_user = await self._store.running_counts()
        capacity = self._providers.capacity(
            per_provider, per_user, self._queue.max_running_per_user, paused
        )
        claimed = await self._store.claim(self._origin, capacity, self._only)
        if claimed and not self._providers.begin(claimed[0].provider):
            for job in claimed:  # its breaker opened while we claimed
                await self._store.requeue(job)
            return []
        return claimed

    async def _idle(self) -> None:
        timeout = self._queue.poll_seconds
        ready_at = await self._store.next_ready_at(self._origin)
        trial_at = self._providers.next_trial_at()
        for at in (ready_at, trial_at):
            if at is not None:
                timeout = min(timeout, max(0.0, at - time.time()) + 0.01)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()
        await self._watch_overdue()
        await self._deliver_pending()
        await self._check_cancellations()

    async def _watch_overdue(self) -> None:
        """Fail jobs stuck past their limit (once per poll interval); stop their runs here."""
        if self._only is not None or time.monotonic() < self._next_watch:
            return
        self._next_watch = time.monotonic() + self._queue.poll_seconds
        for job in await settle_overdue(self._store, self._overdue_grace):
            for task, jobs in self._running.items():
                if any(running.job_id == job.job_id for running in jobs):
                    task.cancel()

    async def _check_cancellations(self) -> None:
        """Cancels asked for in another process reach this one through the store."""
        running = {job.job_id for jobs in self._running.values() for job in jobs}
        for job_id in set(self._tokens) - running:  # cancels of jobs that run elsewhere
            del self._tokens[job_id]
        if running:
            for job_id in await self._store.cancel_requested(running):
                token = self._tokens.get(job_id)
                if token is None or not token.cancelled:
                    self.cancel(job_id)

    def _finished(self, task: asyncio.Task[None]) -> None:
        for job in self._running.pop(task, []):
            self._unsettled.discard(job.job_id)
        if not task.cancelled() and task.exception() is not None:
            log.error("Job task failed", exc_info=task.exception())
        self._wake.set()

    async def _execute(self, batch: list[Job]) -> None:
        entry = self._providers.get(batch[0].provider)
        loop = asyncio.get_running_loop()
        relays = [_ProgressRelay(loop) for _ in batch]
        tokens = [self._tokens.setdefault(job.job_id, CancelToken()) for job in batch]
        forwarders = [
            asyncio.create_task(relay.forward(self._sink, job, self._progress_interval))
            for relay, job in zip(relays, batch, strict=True)
        ]
        timeout = max(job.timeout_seconds for job in batch)
        try:
            async with asyncio.timeout(timeout), run_within(timeout):
                outcomes = await self._generate(entry.provider, batch, relays, tokens)
        except TimeoutError:
            outcomes = [TimeoutError()] * len(batch)
        except asyncio.CancelledError:
            if not self._shutting_down and not all(token.cancelled for token in tokens):
                self._providers.record(entry.name, False)  # frees a trial slot
                raise
            outcomes = [asyncio.CancelledError()] * len(batch)
        finally:
            for forwarder in forwarders:
                forwarder.cancel()
            for job in batch:
                self._tokens.pop(job.job_id, None)
        self._record(entry.name, tokens, outcomes)
        for job, token, outcome in zip(batch, tokens, outcomes, strict=True):
            try:
                await self._settle(job, token, outcome)
            except Exception:  # the database refused; the watchdog fails the job later
                log.exception("Job %d could not be settled", job.job_id)

    def _record(
        self,
        provider: str,
        tokens: list[CancelToken],
        outcomes: list[GenerationResult | BaseException],
    ) -> None:
        """Outcomes for the provider's breaker: one failed call counts once, however many jobs
        it carried; a cancelled job tells nothing."""
        seen: set[int] = set()
        for token, outcome in zip(tokens, outcomes, strict=True):
            if id(outcome) in seen:
                continue
            seen.add(id(outcome))
            if isinstance(outcome, GenerationResult):
                self._providers.record(provider, True)
            else:
                self._providers.record(provider, False, None if token.cancelled else outcome)

    @staticmethod
    async def _generate(
        provider: Provider,
        batch: list[Job],
        relays: list[_ProgressRelay],
        tokens: list[CancelToken],
    ) -> list[GenerationResult | BaseException]:
        """Every job's outcome: its result or the error it ended with."""
        try:
            if batch[0].request.mode is Mode.DESCRIBE:  # alone: its batch key is empty
                return [await describe(provider, batch[0].request)]
            requests = [job.request.replace(run=RunId(job.job_id, job.attempt)) for job in batch]
            if len(batch) == 1:
                return [await provider.generate(requests[0], relays[0], tokens[0])]
            results = await provider.generate_batch(requests, relays, tokens)
        except Exception as err:
            return [err] * len(batch)
        return list(results)

    async def _settle(
        self, job: Job, token: CancelToken, outcome: GenerationResult | BaseException
    ) -> None:
        stopped = isinstance(outcome, asyncio.CancelledError) and self._shutting_down
        if stopped and not token.cancelled:  # by the shutdown, not the member: run it later
            with contextlib.suppress(InvalidTransition):
                await self._store.requeue(job)
            return
        if isinstance(outcome, GenerationResult):
            result = outcome
            finished = await settle(
                self._store,
                job,
                None,
                cancelled=token.cancelled,
                save=lambda: self._keep(job, result),
                retry_backoff=self._queue.retry_backoff_seconds,
            )
        else:
            finished = await settle(
                self._store,
                job,
                outcome,
                cancelled=token.cancelled,
                save=None,
                retry_backoff=self._queue.retry_backoff_seconds,
            )
        self._unsettled.discard(job.job_id)
        if finished:
            await self._deliveries.deliver(job.job_id)

    async def _keep(self, job: Job, result: GenerationResult) -> list[StoredImage]:
        text = caption_of(result)
        if text is not None:
            await self._store.keep_text(job, text)
        return await asyncio.to_thread(self._save, job, result)

    def _save(self, job: Job, result: GenerationResult) -> list[StoredImage]:
        """Write the job's PNGs; on a failure remove what was written and raise."""
        folder = self._results_dir / str(job.job_id)
        stored = []
        try:
            for index, generated in enumerate(result.images):
                path = folder / f"{job.job_id}-{index}.png"
                text = parameters_text(job.request, generated.seed, result.model)
                write_atomically(path, encode_png(generated.image, text))
                width, height = generated.image.size
                stored.append(
                    StoredImage(index, generated.seed, str(path), width, height, generated.flagged)
                )
            preview = map_preview(result.info)
            if preview is not None and stored:
                write_atomically(map_path(folder, job.job_id), preview)
        except Exception:
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return stored

    async def _deliver_pending(self) -> None:
        await self._deliveries.pending(self._origin, self._only)
