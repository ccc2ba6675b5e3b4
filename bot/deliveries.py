"""Where finished jobs go: the ``ResultSink`` protocol and ``Deliveries``, which hands each
job to it exactly once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from bot.jobs import Job, StoredImage
from bot.store import JobStore
from engine import Progress

log = logging.getLogger(__name__)


class ResultSink(Protocol):
    """Where results go: Discord messages, files for the console. ``deliver`` is called once
    per finished job (succeeded, failed or cancelled) and may be called again after a crash
    in the middle of it, so it should be idempotent per job id."""

    async def progress(self, job: Job, progress: Progress) -> None: ...

    async def deliver(self, job: Job, images: Sequence[StoredImage]) -> str | None: ...


class Deliveries:
    """Hands finished jobs to the sink, each once: a job is marked delivered only after the
    sink returns, and a failed delivery is tried again on the next pass."""

    def __init__(self, store: JobStore, sink: ResultSink) -> None:
        self._store = store
        self._sink = sink
        self._delivering: set[int] = set()

    async def pending(
        self,
        origin: str,
        only: Collection[int] | None = None,
        accept: Callable[[Job], bool] | None = None,
    ) -> None:
        for job in await self._store.undelivered(origin, only):
            if accept is None or accept(job):
                await self.deliver(job.job_id)

    async def deliver(self, job_id: int) -> None:
        if job_id in self._delivering:
            return
        self._delivering.add(job_id)
        try:
            job = await self._store.get(job_id)
            if job is None or job.delivered:
                return
            images = await self._store.images(job_id)
            try:
                reference = await self._sink.deliver(job, images)
            except Exception:
                log.exception("Delivering job %d failed; it will be tried again", job_id)
                return
            await self._store.mark_delivered(job_id, reference)
        finally:
            self._delivering.discard(job_id)
