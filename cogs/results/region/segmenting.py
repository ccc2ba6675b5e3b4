"""Naming a region in words: which provider segments it, how often a member may ask, and how
long one answer may take. A quick call beside the queue, never a queued job."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.errors import Refusal
from bot.i18n import lazy_t
from bot.jobs import Job
from bot.providers import ProviderEntry

if TYPE_CHECKING:
    from bot.app import ImageBot

SEGMENT_SECONDS = 30.0  # one segmentation at most; then the member is told and nothing waits
SEGMENTS_PER_MINUTE = 5  # per member
WINDOW_SECONDS = 60.0


def segmenter(bot: ImageBot, job: Job) -> ProviderEntry | None:
    """The job's own provider when it can segment, else the first that can; None when none
    can (then "Name it" is not offered)."""
    providers = bot.runtime.providers
    own = providers.find(job.provider)
    if own is not None and _segments(own):
        return own
    return next((entry for entry in providers if _segments(entry)), None)


def _segments(entry: ProviderEntry) -> bool:
    return entry.provider.unavailable is None and entry.provider.capabilities.segment


class SegmentLimiter:
    """Per member: one segmentation at a time and ``SEGMENTS_PER_MINUTE`` a minute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._now = clock
        self._recent: dict[int, deque[float]] = {}
        self._running: set[int] = set()

    def begin(self, user_id: int) -> None:
        now = self._now()
        recent = self._recent.setdefault(user_id, deque())
        while recent and recent[0] <= now - WINDOW_SECONDS:
            recent.popleft()
        if user_id in self._running:
            raise Refusal("I'm still looking for the last region you named; wait for it.")
        if len(recent) >= SEGMENTS_PER_MINUTE:
            wait = int(recent[0] + WINDOW_SECONDS - now) + 1
            raise Refusal(
                lazy_t(
                    "You've named {count} regions in the last minute; try again in {wait} s, or "
                    "upload a mask or pick a region instead.",
                    count=SEGMENTS_PER_MINUTE,
                    wait=wait,
                )
            )
        recent.append(now)
        self._running.add(user_id)

    def end(self, user_id: int) -> None:
        self._running.discard(user_id)


async def segment(
    entry: ProviderEntry, limiter: SegmentLimiter, user_id: int, image: bytes, phrase: str
) -> bytes:
    """The provider's mask of ``phrase`` in ``image``, within the member's rate and
    ``SEGMENT_SECONDS``."""
    limiter.begin(user_id)
    try:
        return await asyncio.wait_for(entry.provider.segment(image, phrase), SEGMENT_SECONDS)
    except TimeoutError:
        raise Refusal(
            "Finding that region took too long; try again later, or upload a mask or pick a "
            "region instead."
        ) from None
    finally:
        limiter.end(user_id)
