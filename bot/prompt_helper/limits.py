"""How often a member may ask the prompt helper: a sliding minute per member, in memory (each
process of a scaled bot keeps its own)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from bot.prompt_helper.errors import HelperBusy

WINDOW_SECONDS = 60.0
MAX_MEMBERS = 10_000  # members remembered at once; the quietest are forgotten first


class MemberRate:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._now = clock
        self._recent: dict[int, deque[float]] = {}

    def take(self, user_id: int) -> None:
        """Count one request of ``user_id``; HelperBusy when the minute is full."""
        now = self._now()
        recent = self._recent.pop(user_id, None) or deque()
        while recent and recent[0] <= now - WINDOW_SECONDS:
            recent.popleft()
        self._recent[user_id] = recent  # last used goes last
        if len(recent) >= self.per_minute:
            wait = int(recent[0] + WINDOW_SECONDS - now) + 1
            raise HelperBusy(count=self.per_minute, wait=wait)
        recent.append(now)
        while len(self._recent) > MAX_MEMBERS:
            del self._recent[next(iter(self._recent))]
