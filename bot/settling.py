"""How one run of a job ends: its outcome recorded in the store, or the job retried later."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.errors import InvalidTransition
from bot.jobs import Job, StoredImage
from bot.store import JobStore
from engine import EngineError, GenerationCancelled, ProviderError, RateLimited

log = logging.getLogger(__name__)

INTERNAL_ERROR = "Something went wrong on our side while generating; your quota was refunded."
NOT_STORED = (
    "Your images were made but could not be saved on our side (the bot's owner can see why "
    "in its log); your quota was refunded."
)
MAX_RETRY_DELAY = 300.0


async def settle(
    store: JobStore,
    job: Job,
    error: BaseException | None,
    *,
    cancelled: bool,
    save: Callable[[], Awaitable[Sequence[StoredImage]]] | None,
    retry_backoff: float,
) -> bool:
    """Record how one run of ``job`` ended: its images (``error`` None: ``save`` stores them) or
    the error it ended with; images that cannot be stored fail the job alone (refunded, the
    member told). True when the job finished (deliver it); False when it went back
    to the queue for a retry, or had moved on meanwhile (a stale attempt, fenced off)."""
    try:
        if error is None and not cancelled:
            assert save is not None
            try:
                images = await save()
            except Exception:  # disk full, read-only, I/O error: fail this job alone
                log.exception("Job %d: its result could not be stored", job.job_id)
                await store.fail(job, NOT_STORED)
                return True
            await store.succeed(job, images)
        elif cancelled or isinstance(error, GenerationCancelled | asyncio.CancelledError):
            await store.finish_cancelled(job)
        elif isinstance(error, TimeoutError):
            await store.fail(job, f"It took longer than the {job.timeout_seconds:g}-second limit.")
        elif isinstance(error, ProviderError) and error.retryable:
            if await store.fail(
                job, error.user_message, retry_after=retry_delay(job, error, retry_backoff)
            ):
                log.info("Job %d will retry: %s", job.job_id, error)
                return False
        elif isinstance(error, EngineError):
            await store.fail(job, error.user_message)
        else:
            log.error("Job %d failed unexpectedly", job.job_id, exc_info=error)
            await store.fail(job, INTERNAL_ERROR)
    except InvalidTransition as err:
        log.warning("Job %d moved on while it ran (%s); leaving it", job.job_id, err)
        return False
    return True


def retry_delay(job: Job, error: ProviderError, backoff: float) -> float:
    """A rate limit's own delay, else exponential backoff by attempt, capped."""
    if isinstance(error, RateLimited) and error.retry_after is not None:
        return min(MAX_RETRY_DELAY, error.retry_after)
    return min(MAX_RETRY_DELAY, backoff * 2.0 ** max(0, job.attempt - 1))
