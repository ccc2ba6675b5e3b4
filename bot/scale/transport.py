"""How released jobs travel to GPU workers and back: a small interface, and saq on Redis.

Redis holds only transport: the task a worker runs, its progress, its result for a while, and
which task carries which job. Postgres stays the system of record; if Redis loses everything,
the dispatcher finds the tasks missing and puts their jobs back in the queue.

A task carries one job or a batch of compatible jobs, each with the attempt it runs as, so a
late result from an attempt that was given up on is recognised and dropped. Its key is
``{first job id}.{attempt}``, unique because an attempt is released once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError
from saq import Queue
from saq.job import Job as SaqJob
from saq.job import Status
from saq.queue.redis import RedisQueue
from saq.utils import now

from bot.jobs import Job
from engine import GenerationRequest

log = logging.getLogger(__name__)

TASK_FUNCTION = "generate"
FINISHED = frozenset(
    status.value.encode() for status in (Status.COMPLETE, Status.FAILED, Status.ABORTED)
)
T = TypeVar("T")


class TaskStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker
    ACTIVE = "active"  # a worker runs it
    ABORTING = "aborting"  # an abort was asked for; the worker has not confirmed it
    COMPLETE = "complete"  # the worker returned outcomes (successes and failures alike)
    FAILED = "failed"  # the worker function itself raised
    ABORTED = "aborted"  # cancelled, or swept after its worker stopped beating
    MISSING = "missing"  # Redis does not know it (never released, or Redis lost it)


@dataclass(frozen=True, slots=True)
class Task:
    provider: str
    jobs: tuple[Job, ...]
    timeout_seconds: float

    @property
    def key(self) -> str:
        head = self.jobs[0]
        return f"{head.job_id}.{head.attempt}"

    def payload(self) -> dict[str, Any]:
        """What the worker needs, JSON-safe: requests with their input images."""
        return {
            "provider": self.provider,
            "limit": self.timeout_seconds,
            "jobs": [
                {
                    "job_id": job.job_id,
                    "attempt": job.attempt,
                    "request": job.request.to_dict(),
                    **input_payload(job.request),
                }
                for job in self.jobs
            ],
        }


@dataclass(frozen=True, slots=True)
class TaskState:
    key: str
    status: TaskStatus
    provider: str = ""
    result: Mapping[str, Any] | None = None
    error: str | None = None
    progress: Mapping[str, Any] = field(default_factory=dict)  # job id (text) -> progress
    touched: float = 0.0  # last heartbeat, epoch seconds
    attempts: Mapping[int, int] = field(default_factory=dict)  # job id -> attempt it carries

    def carries(self, job: Job) -> bool:
        """Whether this task runs the job's current attempt (not an attempt given up on)."""
        return self.attempts.get(job.job_id) == job.attempt


class TransportUnavailable(Exception):
    """The transport cannot be reached (Redis down): nothing was released or read."""


class Transport(Protocol):
    """What the dispatcher and the bot clusters need of a queue to GPU workers."""

    async def release(self, task: Task) -> None: ...
    async def states(self, jobs: Collection[int]) -> dict[int, TaskState]: ...
    async def abort(self, state: TaskState, reason: str) -> None: ...
    async def forget(self, job_ids: Collection[int]) -> None: ...
    async def capacity(self, providers: Collection[str]) -> tuple[dict[str, int], dict[str, int]]:
        """(slots of live workers, tasks queued or running) per provider."""
        ...

    async def sweep(self, providers: Collection[str]) -> None: ...
    async def watch(self, on_finish: Callable[[], None]) -> None:
        """Call ``on_finish`` whenever a task ends, until cancelled (survives outages)."""
        ...

    async def close(self) -> None: ...


def queue_name(prefix: str, provider: str) -> str:
    return f"{prefix}-{provider}"


class SaqTransport:
    """One saq queue per provider, so a worker takes only work it can run. A Redis hash maps
    each released job to its task (``{prefix}:tasks``: job id -> provider and key)."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        heartbeat_seconds: int,
        result_ttl_seconds: int,
        sweep_seconds: int,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._heartbeat = heartbeat_seconds
        self._ttl = result_ttl_seconds
        self._sweep_lock = sweep_seconds
        self._queues: dict[str, Queue] = {}
        self._tasks_key = f"{prefix}:tasks"

    @classmethod
    def from_url(
        cls, url: str, prefix: str, *, heartbeat_seconds: int, result_ttl_seconds: int, sweep: int
    ) -> SaqTransport:
        redis: Redis = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return cls(
            redis,
            prefix,
            heartbeat_seconds=heartbeat_seconds,
            result_ttl_seconds=result_ttl_seconds,
            sweep_seconds=sweep,
        )

    def queue(self, provider: str) -> Queue:
        queue = self._queues.get(provider)
        if queue is None:
            queue = RedisQueue(self._redis, name=queue_name(self._prefix, provider))
            self._queues[provider] = queue
        return queue

    async def release(self, task: Task) -> None:
        """Record which task carries each job, then enqueue it: a crash in between leaves a
        mapping without a task, which reads as missing and puts the jobs back."""
        where = json.dumps({"provider": task.provider, "key": task.key})
        async with _unavailable():
            await _done(
                self._redis.hset(
                    self._tasks_key, mapping={str(job.job_id): where for job in task.jobs}
                )
            )
            # Retries are ours (a new attempt, a new task), so saq runs a task once; its
            # timeout only backs up the worker's own, which reports the failure properly.
            await self.queue(task.provider).enqueue(
                TASK_FUNCTION,
                key=task.key,
                timeout=int(task.timeout_seconds) + 2 * self._heartbeat,
                heartbeat=self._heartbeat,
                retries=1,
                ttl=self._ttl,
                **task.payload(),
            )

    async def states(self, jobs: Collection[int]) -> dict[int, TaskState]:
        """The state of the task carrying each job (MISSING for jobs Redis has no task for)."""
        if not jobs:
            return {}
        async with _unavailable():
            found = await _done(
                self._redis.hmget(self._tasks_key, [str(job_id) for job_id in jobs])
            )
            places: dict[tuple[str, str], list[int]] = {}
            states: dict[int, TaskState] = {}
            for job_id, raw in zip(jobs, found, strict=True):
                if raw is None:
                    states[job_id] = TaskState("", TaskStatus.MISSING)
                    continue
                place = json.loads(raw)
                places.setdefault((place["provider"], place["key"]), []).append(job_id)
            by_provider: dict[str, list[str]] = {}
            for provider, key in places:
                by_provider.setdefault(provider, []).append(key)
            for provider, keys in by_provider.items():
                for key, saq_job in zip(keys, await self.queue(provider).jobs(keys), strict=True):
                    state = _state_of(key, provider, saq_job)
                    for job_id in places[(provider, key)]:
                        states[job_id] = state
            return states

    async def abort(self, state: TaskState, reason: str) -> None:
        """Take a queued task off the queue, or have its worker cancel a running one."""
        async with _unavailable():
            queue = self.queue(state.provider)
            saq_job = await queue.job(state.key)
            if saq_job is not None and saq_job.status not in (Status.ABORTING, Status.ABORTED):
                await queue.abort(saq_job, reason)

    async def forget(self, job_ids: Collection[int]) -> None:
        if job_ids:
            async with _unavailable():
                await _done(self._redis.hdel(self._tasks_key, *[str(job_id) for job_id in job_ids]))

    async def capacity(self, providers: Collection[str]) -> tuple[dict[str, int], dict[str, int]]:
        slots: dict[str, int] = {}
        in_flight: dict[str, int] = {}
        async with _unavailable():
            for provider in providers:
                info = await self.queue(provider).info()
                slots[provider] = sum(
                    int((worker.get("metadata") or {}).get("slots", 0))
                    for worker in info["workers"].values()
                )
                in_flight[provider] = await self.queue(provider).count("incomplete")
        return slots, in_flight

    async def sweep(self, providers: Collection[str]) -> None:
        """saq's sweeper: a task whose worker stopped beating is aborted (workers sweep too;
        this covers the case where none is left)."""
        async with _unavailable():
            for provider in providers:
                await self.queue(provider).sweep(lock=self._sweep_lock, abort=1.0)

    async def watch(self, on_finish: Callable[[], None]) -> None:
        """saq publishes every status change of a task on its id; a finished task wakes the
        scheduler at once instead of at its next poll (which stays, for anything missed)."""
        pattern = f"saq:job:{self._prefix}-*"
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage" and message.get("data") in FINISHED:
                        on_finish()
            except (RedisConnectionError, RedisTimeoutError, OSError):
                await asyncio.sleep(1.0)  # Redis is down: the polls carry on meanwhile
            finally:
                # Bounded: a shutdown must not wait on a connection that is going away.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), 2)  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._redis.aclose()


def _state_of(key: str, provider: str, saq_job: SaqJob | None) -> TaskState:
    if saq_job is None:
        return TaskState(key, TaskStatus.MISSING, provider)
    status = {
        Status.NEW: TaskStatus.QUEUED,
        Status.QUEUED: TaskStatus.QUEUED,
        Status.ACTIVE: TaskStatus.ACTIVE,
        Status.ABORTING: TaskStatus.ABORTING,
        Status.ABORTED: TaskStatus.ABORTED,
        Status.FAILED: TaskStatus.FAILED,
        Status.COMPLETE: TaskStatus.COMPLETE,
    }[saq_job.status]
    result = saq_job.result if isinstance(saq_job.result, dict) else None
    meta = saq_job.meta if isinstance(saq_job.meta, dict) else {}
    carried = (saq_job.kwargs or {}).get("jobs", [])
    return TaskState(
        key=key,
        status=status,
        provider=provider,
        result=result,
        error=saq_job.error,
        progress=meta.get("progress", {}),
        touched=saq_job.touched / 1000 if saq_job.touched else 0.0,
        attempts={int(item["job_id"]): int(item["attempt"]) for item in carried},
    )


async def write_progress(queue: RedisQueue, saq_job: SaqJob, meta: dict[str, Any]) -> bool:
    """Write a running task's progress (saq's heartbeat too), only while Redis holds the task as
    active. saq's own ``Job.update`` reads the stored status, then rewrites the whole record: a
    write that crossed the task's finish put "active" back over "complete" for good (the result
    stayed, the leader never settled it). Here the write is fenced by WATCH on the record.
    False once the task is no longer active (finished, aborting, or gone)."""
    saq_job.meta = meta
    saq_job.touched = now()
    async with queue.redis.pipeline(transaction=True) as pipe:
        try:
            await pipe.watch(saq_job.id)
            stored = queue.deserialize(await pipe.get(saq_job.id))
            if stored is None or stored.status is not Status.ACTIVE:
                return False
            record = queue.copy(saq_job)
            record.status = Status.ACTIVE
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(saq_job.id, queue.serialize(record))
            await pipe.execute()
        except WatchError:
            pass  # the record changed meanwhile: the next beat reads it again
    return True


async def _done(result: Awaitable[T] | T) -> T:
    """redis-py types its commands as 'awaitable or not' (one stub for both clients)."""
    if inspect.isawaitable(result):
        return cast(T, await result)
    return result


def input_payload(request: GenerationRequest) -> dict[str, Any]:
    """A request's input images as a task carries them (base64)."""
    return {
        "init_image": b64(request.init_image) if request.init_image is not None else None,
        "mask_image": b64(request.mask_image) if request.mask_image is not None else None,
        "extra_images": [b64(image) for image in request.extra_images],
        "reference_images": [b64(image) for image in request.reference_images],
        "control_image": b64(request.control_image) if request.control_image is not None else None,
    }


def request_of(item: Mapping[str, Any]) -> GenerationRequest:
    """A task's request back with its input images. Older tasks carry no mask, extras,
    references or control image."""
    return GenerationRequest.from_dict(
        item["request"],
        unb64(item.get("init_image")),
        unb64(item.get("mask_image")),
        tuple(base64.b64decode(text) for text in item.get("extra_images") or ()),
        tuple(base64.b64decode(text) for text in item.get("reference_images") or ()),
        unb64(item.get("control_image")),
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str | None) -> bytes | None:
    return base64.b64decode(text) if text is not None else None


@asynccontextmanager
async def _unavailable() -> AsyncIterator[None]:
    """Redis connection errors as ``TransportUnavailable``: the callers wait and try again."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as err:
        raise TransportUnavailable(str(err) or type(err).__name__) from err
