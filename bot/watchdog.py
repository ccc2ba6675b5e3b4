"""The watchdog: a job left running past its time limit plus a grace (its run or the storing of
its result is stuck, or its task was lost) fails and is refunded, in either mode."""

from __future__ import annotations

import logging

from bot.errors import InvalidTransition
from bot.jobs import Job
from bot.store import JobStore

log = logging.getLogger(__name__)

# Past its own time limit a job still has its result to store; a minute is far more than that.
OVERDUE_GRACE = 60.0


def overdue_message(job: Job) -> str:
    return f"It took longer than the {job.timeout_seconds:g}-second limit."


async def settle_overdue(store: JobStore, grace: float = OVERDUE_GRACE) -> list[Job]:
    """Fail and refund each job running ``grace`` seconds past its limit (cancelled instead if
    its member asked), fenced by its attempt so a run that ends meanwhile wins. Returns the
    jobs settled here, for their owner to deliver and to stop their runs if still alive."""
    settled = []
    for job in await store.overdue(grace):
        try:
            if job.cancel_requested:
                await store.finish_cancelled(job)
            else:
                await store.fail(job, overdue_message(job))
        except InvalidTransition:
            continue  # it finished between the query and now
        log.warning(
            "Job %d was still running more than %g s past its %g-second limit; failed it",
            job.job_id,
            grace,
            job.timeout_seconds,
        )
        settled.append(job)
    return settled
