"""``python -m bot worker``: a GPU worker of the scaled mode.

It needs only the Redis URL: no bot token, no database. It runs the providers named in its own
config (``scale.worker_providers``, default all; a remote provider reads its key from this
machine's environment as the bot would, the local engine needs none), takes tasks from one saq
queue per provider, reports progress (which is also saq's heartbeat) and returns every job's
outcome: PNG images with their parameters, or the error it ended with. Large results go to
``scale.blob_dir`` instead of through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import signal
from collections.abc import Mapping
from typing import Any

from PIL import Image
from redis.asyncio import Redis
from saq import Worker
from saq.job import Job as SaqJob

from bot.control_maps import map_preview
from bot.errors import SettingsError
from bot.images import encode_png, parameters_text, write_atomically
from bot.providers import Providers
from bot.scale.outage import QuietWorker, RedisOutage, WorkerQueue
from bot.scale.results import blob_name
from bot.scale.transport import TASK_FUNCTION, b64, queue_name, request_of, write_progress
from bot.settings import LoadedSettings, ScaleSettings
from engine import (
    CancelToken,
    EngineError,
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    Progress,
    Provider,
    ProviderError,
    RateLimited,
)
from engine.deadline import run_within
from engine.types import RunId

log = logging.getLogger(__name__)

PREVIEW_SIZE = 256
PROGRESS_SECONDS = 0.25  # the most often a task writes its progress to Redis


class _Reporter:
    """Collects progress from the provider's thread; ``beat`` writes the latest of every job to
    the saq job, which is also the heartbeat saq's sweeper checks."""

    def __init__(self, queue: WorkerQueue, saq_job: SaqJob, job_ids: list[int]) -> None:
        self._queue = queue
        self._saq_job = saq_job
        self._loop = asyncio.get_running_loop()
        self._latest: dict[str, dict[str, Any]] = {str(job_id): {} for job_id in job_ids}
        self._changed = asyncio.Event()

    def callback(self, job_id: int) -> Any:
        def report(progress: Progress) -> None:
            self._loop.call_soon_threadsafe(self._update, job_id, progress)

        return report

    def _update(self, job_id: int, progress: Progress) -> None:
        entry: dict[str, Any] = {"step": progress.step, "total": progress.total}
        if progress.message:
            entry["message"] = progress.message
        if progress.eta is not None:
            entry["eta"] = progress.eta
        if progress.preview is not None:
            entry["preview"] = b64(_preview(progress.preview))
        self._latest[str(job_id)] = entry
        self._changed.set()

    async def beat(self, every: float) -> None:
        """Write progress soon after it changes (at most every ``PROGRESS_SECONDS``), and at
        least every ``every`` seconds as the heartbeat, until the task is no longer active.
        ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` swallows a cancel
        that arrives as the event fires, and this loop then outlived its task."""
        while True:
            try:
                if not await write_progress(self._queue, self._saq_job, {"progress": self._latest}):
                    return
            except Exception as err:
                if not self._queue.outage.failed(err):
                    log.warning("Could not report progress of task %s: %s", self._saq_job.key, err)
            await asyncio.sleep(PROGRESS_SECONDS)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every - PROGRESS_SECONDS):
                    await self._changed.wait()


class TaskRunner:
    """The saq function: runs one task (one job or a batch) on its provider."""

    def __init__(self, providers: Providers, scale: ScaleSettings) -> None:
        self._providers = providers
        self._scale = scale

    async def run(
        self, ctx: Mapping[str, Any], *, provider: str, limit: float, jobs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        saq_job: SaqJob = ctx["job"]
        entry = self._providers.get(provider)
        # which attempt each runs as: a backend with its own queue recovers an earlier one's work
        requests = [
            request_of(item).replace(run=RunId(int(item["job_id"]), int(item["attempt"])))
            for item in jobs
        ]
        job_ids = [int(item["job_id"]) for item in jobs]
        tokens = [CancelToken() for _ in jobs]
        queue = saq_job.get_queue()
        assert isinstance(queue, WorkerQueue)
        reporter = _Reporter(queue, saq_job, job_ids)
        beating = asyncio.create_task(reporter.beat(min(2.0, self._scale.heartbeat_seconds / 5)))
        try:
            async with asyncio.timeout(limit), run_within(limit):
                outcomes = await _generate(entry.provider, requests, reporter, job_ids, tokens)
        except TimeoutError:
            outcomes = [TimeoutError()] * len(jobs)
        except asyncio.CancelledError:  # saq aborted the task: stop the engine too
            for token in tokens:
                token.cancel()
            raise
        finally:
            # Ended and awaited before saq records the finish: no progress write crosses it.
            beating.cancel()
            await asyncio.wait([beating])
        return {
            "provider": provider,
            "jobs": [
                self._outcome(saq_job.key, item, request, outcome)
                for item, request, outcome in zip(jobs, requests, outcomes, strict=True)
            ],
        }

    def _outcome(
        self,
        key: str,
        item: Mapping[str, Any],
        request: GenerationRequest,
        outcome: GenerationResult | BaseException,
    ) -> dict[str, Any]:
        base = {"job_id": item["job_id"], "attempt": item["attempt"]}
        if isinstance(outcome, GenerationResult):
            images = self._images(key, item["job_id"], request, outcome)
            done = {**base, "model": outcome.model, "images": images}
            preview = map_preview(outcome.info)  # already small: it travels inline
            return done if preview is None else {**done, "control_map": b64(preview)}
        return {**base, "error": describe_error(outcome)}

    def _images(
        self, key: str, job_id: int, request: GenerationRequest, result: GenerationResult
    ) -> list[dict[str, Any]]:
        encoded = [
            encode_png(generated.image, parameters_text(request, generated.seed, result.model))
            for generated in result.images
        ]
        blob_dir = self._scale.blob_dir
        large = sum(map(len, encoded)) > self._scale.inline_result_bytes
        images = []
        for index, (generated, data) in enumerate(zip(result.images, encoded, strict=True)):
            width, height = generated.image.size
            image: dict[str, Any] = {
                "seed": generated.seed,
                "width": width,
                "height": height,
                "flagged": generated.flagged,
            }
            if large and blob_dir is not None:
                write_atomically(blob_dir / blob_name(key, job_id, index), data)
                image["blob"] = True  # the leader reads it by the same name, never a given one
            else:
                image["png"] = b64(data)
            images.append(image)
        return images


async def _generate(
    provider: Provider,
    requests: list[GenerationRequest],
    reporter: _Reporter,
    job_ids: list[int],
    tokens: list[CancelToken],
) -> list[GenerationResult | BaseException]:
    callbacks = [reporter.callback(job_id) for job_id in job_ids]
    try:
        if len(requests) == 1:
            return [await provider.generate(requests[0], callbacks[0], tokens[0])]
        return list(await provider.generate_batch(requests, callbacks, tokens))
    except Exception as err:
        return [err] * len(requests)


def describe_error(error: BaseException) -> dict[str, Any]:
    """An error as data the dispatcher turns back into the same decision the embedded worker
    makes (see ``error_from``)."""
    if isinstance(error, GenerationCancelled):
        return {"kind": "cancelled"}
    if isinstance(error, TimeoutError):
        return {"kind": "timeout"}
    if isinstance(error, ProviderError) and error.retryable:
        retry_after = error.retry_after if isinstance(error, RateLimited) else None
        return {"kind": "retryable", "message": error.user_message, "retry_after": retry_after}
    if isinstance(error, EngineError):
        return {"kind": "engine", "message": error.user_message}
    log.error("A task failed unexpectedly", exc_info=error)
    return {"kind": "internal"}


def _preview(image: Image.Image) -> bytes:
    small = image.convert("RGB")
    small.thumbnail((PREVIEW_SIZE, PREVIEW_SIZE))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


def worker_providers(loaded: LoadedSettings) -> list[str]:
    settings = loaded.settings
    names = list(settings.scale.worker_providers) or [
        name for name, provider in settings.providers.items() if provider.enabled
    ]
    unknown = sorted(set(names) - set(settings.providers))
    if unknown:
        raise SettingsError(
            f"scale.worker_providers names {', '.join(unknown)}, which the config does not define."
        )
    return names


async def run_worker(loaded: LoadedSettings) -> int:
    """Serve until SIGTERM or SIGINT; a task still running then gets the shutdown grace, and is
    otherwise left for saq's sweeper (its job runs again as a new attempt)."""
    settings = loaded.settings
    scale = settings.scale
    if loaded.secrets.redis_url is None:
        raise SettingsError(
            "A GPU worker needs the Redis URL: set IMAGEBOT_REDIS_URL (redis://user:pass@host/0)."
        )
    names = worker_providers(loaded)
    only = settings.model_copy(
        update={"providers": {name: settings.providers[name] for name in names}}
    )
    providers = Providers.build(only, loaded.secrets)
    redis: Redis = Redis.from_url(loaded.secrets.redis_url.get_secret_value())
    await providers.start()
    runner = TaskRunner(providers, scale)
    outage = RedisOutage(redis)
    saq_log = logging.getLogger("saq")
    saq_log.addFilter(outage)  # its tracebacks of Redis being away: one line from us instead
    workers = [_saq_worker(redis, scale, name, runner, outage) for name in names]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("GPU worker serving %s", ", ".join(names))
    running = [asyncio.create_task(worker.start()) for worker in workers]
    try:
        await stop.wait()
        await _drain(workers, settings.queue.shutdown_grace_seconds)
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers), return_exceptions=True)
        await asyncio.gather(*running, return_exceptions=True)
        await providers.close()
        saq_log.removeFilter(outage)
        await outage.close()
        await redis.aclose()
    return 0


async def _drain(workers: list[Worker[Any]], grace: float) -> None:
    """Take no new task; give running ones ``grace`` seconds. What is still running after that
    is cancelled, and saq's sweeper hands its job back to the scheduler."""
    for worker in workers:
        worker.event.set()
    deadline = asyncio.get_running_loop().time() + grace
    while any(worker.job_task_contexts for worker in workers):
        if asyncio.get_running_loop().time() > deadline:
            log.warning("Stopping with tasks still running; they will run again elsewhere")
            return
        await asyncio.sleep(0.1)


def _saq_worker(
    redis: Redis,
    scale: ScaleSettings,
    provider: str,
    runner: TaskRunner,
    outage: RedisOutage | None = None,
) -> Worker[Any]:
    queue = WorkerQueue(redis, queue_name(scale.queue_name, provider), outage or RedisOutage(redis))
    worker = QuietWorker(
        queue,
        functions=[(TASK_FUNCTION, runner.run)],
        concurrency=scale.worker_concurrency,
        timers={"sweep": scale.sweep_seconds, "abort": 1, "worker_info": 5, "schedule": 1},
        dequeue_timeout=1.0,  # an idle worker notices a stop within a second
        shutdown_grace_period_s=0,  # _drain gave running tasks their grace already
        metadata={"provider": provider, "slots": scale.worker_concurrency},
    )
    worker.SIGNALS = []  # run_worker handles the signals, for every queue at once
    return worker
