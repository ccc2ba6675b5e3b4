"""What a bot cluster does with jobs in the scaled mode: it forwards the progress of running
jobs and delivers finished ones, for the jobs of its own shards (DMs belong to shard 0), and
runs a scheduler candidate (see ``dispatcher``). Delivery is once per job: a job is marked
delivered in Postgres after the sink returns, and a channel post carries the job's nonce, so
a delivery repeated after a crash cannot post twice."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Callable, Collection
from typing import Any

from PIL import Image

from bot.deliveries import Deliveries, ResultSink
from bot.jobs import Job
from bot.scale.dispatcher import Dispatcher
from bot.scale.transport import Transport, TransportUnavailable, unb64
from bot.store import JobStore
from engine import Progress

log = logging.getLogger(__name__)


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """Discord's rule: a guild's events come on ``(guild_id >> 22) % shard_count``; DMs on 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


def owner(shard_count: int | None, shard_ids: Collection[int] | None) -> Callable[[Job], bool]:
    """Which jobs a cluster delivers: those of its shards (all of them when unsharded)."""
    if shard_count is None or shard_ids is None:
        return lambda job: True
    mine = frozenset(shard_ids)
    return lambda job: shard_of(job.guild_id, shard_count) in mine


class ClusterRelay:
    """Takes the place of the embedded worker in a bot process of the scaled mode."""

    def __init__(
        self,
        store: JobStore,
        transport: Transport,
        sink: ResultSink,
        dispatcher: Dispatcher,
        *,
        origin: str,
        owns: Callable[[Job], bool],
        interval: float,
        progress_interval: float,
    ) -> None:
        self._store = store
        self._transport = transport
        self._sink = sink
        self._dispatcher = dispatcher
        self._deliveries = Deliveries(store, sink)
        self._origin = origin
        self._owns = owns
        self._interval = interval
        self._progress_interval = progress_interval
        self._reported: dict[int, tuple[Any, ...]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        dispatcher.on_settled = self._wake.set  # a job this process settled: deliver it now

    async def start(self) -> None:
        await self._dispatcher.start()
        self._task = asyncio.create_task(self._run(), name="cluster-relay")

    async def stop(self, grace: float | None = None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._dispatcher.stop()

    def wake(self) -> None:
        self._wake.set()
        self._dispatcher.wake()

    def cancel(self, job_id: int) -> None:
        """The dispatcher sees the cancel in Postgres; waking it makes that prompt."""
        self._dispatcher.wake()

    async def _run(self) -> None:
        last_progress = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self._deliveries.pending(self._origin, accept=self._owns)
                if loop.time() - last_progress >= self._progress_interval:
                    last_progress = loop.time()
                    await self._forward_progress()
            except TransportUnavailable:
                pass  # progress waits for Redis; the results are in Postgres already
            except Exception:
                log.exception("The cluster relay failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()

    async def _forward_progress(self) -> None:
        running = [job for job in await self._store.running(self._origin) if self._owns(job)]
        self._reported = {job.job_id: self._reported.get(job.job_id, ()) for job in running}
        if not running:
            return
        states = await self._transport.states([job.job_id for job in running])
        for job in running:
            state = states[job.job_id]
            entry = state.progress.get(str(job.job_id)) if state.carries(job) else None
            if not entry:
                continue
            seen = (job.attempt, entry.get("step"), entry.get("total"))
            if self._reported[job.job_id] == seen:
                continue
            self._reported[job.job_id] = seen
            try:
                await self._sink.progress(job, progress_from(entry))
            except Exception:
                log.warning("Progress report for job %d failed", job.job_id, exc_info=True)


def progress_from(entry: dict[str, Any]) -> Progress:
    preview = None
    data = unb64(entry.get("preview"))
    if data is not None:
        with contextlib.suppress(OSError, ValueError):
            preview = Image.open(io.BytesIO(data))
            preview.load()
    return Progress(
        step=int(entry.get("step", 0)),
        total=int(entry.get("total", 0)),
        message=str(entry.get("message", "")),
        preview=preview,
        eta=_seconds(entry.get("eta")),
    )


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
