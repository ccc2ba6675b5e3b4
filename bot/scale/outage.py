"""A GPU worker while Redis is away: one line when it goes and one when it is back, instead of a
traceback from every call that fails meanwhile (saq's upkeep loops, its dequeue, its task
slots, our progress writes), and no task exception left unretrieved."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from saq import Worker
from saq.job import Job as SaqJob
from saq.queue.redis import RedisQueue

log = logging.getLogger(__name__)

REDIS_AWAY = (RedisConnectionError, RedisTimeoutError, OSError)  # BusyLoadingError included
PROBE_SECONDS = 1.0


class RedisOutage(logging.Filter):
    """Notes failures that mean Redis is away; while it is, a probe pings it every second and
    says when it is back. As a filter on saq's logger it drops saq's tracebacks of them."""

    def __init__(self, redis: Redis) -> None:
        super().__init__()
        self._redis = redis
        self._loop = asyncio.get_running_loop()
        self._probe: asyncio.Task[None] | None = None

    @property
    def away(self) -> bool:
        return self._probe is not None and not self._probe.done()

    def failed(self, error: BaseException) -> bool:
        """Whether ``error`` says Redis is away (then it has been accounted for)."""
        if not isinstance(error, REDIS_AWAY):
            return False
        self._loop.call_soon_threadsafe(self._went_away, error)
        return True

    def _went_away(self, error: BaseException) -> None:
        if self.away:
            return
        log.warning("Redis is unreachable (%s); waiting for it", str(error) or type(error).__name__)
        self._probe = self._loop.create_task(self._wait_back(), name="redis-probe")

    async def _wait_back(self) -> None:
        while True:
            await asyncio.sleep(PROBE_SECONDS)
            try:
                await self._redis.ping()  # type: ignore[misc]
            except REDIS_AWAY:
                continue
            log.info("Redis is back")
            return

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not self.failed(error)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.wait([self._probe])


class WorkerQueue(RedisQueue):
    """saq's queue, whose dequeue waits a moment instead of failing while Redis is away (saq
    would start the next dequeue at once: a busy loop)."""

    def __init__(self, redis: Redis, name: str, outage: RedisOutage) -> None:
        super().__init__(redis, name=name)
        self.outage = outage

    async def dequeue(
        self,
        timeout: float = 0.0,  # noqa: ASYNC109 (saq's signature)
        poll_interval: float = 0.0,
    ) -> SaqJob | None:
        try:
            return await super().dequeue(timeout, poll_interval)
        except REDIS_AWAY as err:
            self.outage.failed(err)
            await asyncio.sleep(PROBE_SECONDS)
            return None


class QuietWorker(Worker[Any]):
    """saq's worker, whose finished task slots have their exception retrieved: one that says
    Redis is away is accounted for, any other is logged once."""

    def __init__(self, queue: WorkerQueue, **options: Any) -> None:
        super().__init__(queue, **options)
        self.outage = queue.outage

    def _process(self, previous_task: asyncio.Task[Any] | None = None) -> None:
        if previous_task is not None and not previous_task.cancelled():
            error = previous_task.exception()
            if error is not None and not self.outage.failed(error):
                log.error("A task slot of the worker failed", exc_info=error)
        super()._process(previous_task)
