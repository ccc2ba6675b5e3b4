"""A circuit breaker per provider: after enough failures in a row that say the provider is down,
it gets no jobs for a while, then one trial job decides whether it is back."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeGuard

from engine import ProviderError, RateLimited

MAX_WAIT = 900.0


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class Change(enum.StrEnum):
    OPENED = "opened"
    REOPENED = "reopened"
    CLOSED = "closed"


def is_outage(error: BaseException | None) -> TypeGuard[ProviderError]:
    """Whether an error says the provider itself is down. A rate limit means it answered (and
    Retry-After paces us); a refusal, a bug of ours or a job past its own timeout (a slow model
    or a large request) says nothing about whether the provider is up."""
    return (
        isinstance(error, ProviderError) and error.retryable and not isinstance(error, RateLimited)
    )


class Breaker:
    """Closed: jobs run and outages are counted, a success resets the count. Open: no jobs
    until the wait is over. Half-open: one trial job; its success closes the breaker, its
    failure opens it again for twice as long (at most MAX_WAIT). Outcomes of jobs that started
    before it opened are ignored while it is open."""

    def __init__(
        self, failures: int, seconds: float, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.failures = failures
        self.seconds = seconds
        self._clock = clock
        self._count = 0
        self._wait = seconds
        self._retry_at: float | None = None
        self._trial = False
        self._last_error = ""

    @property
    def state(self) -> BreakerState:
        if self._retry_at is None:
            return BreakerState.CLOSED
        if self._clock() < self._retry_at:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def retry_at(self) -> float | None:
        """When the next trial job may start; None while closed."""
        return self._retry_at

    @property
    def reason(self) -> str | None:
        """Why the provider gets no jobs, in words for /status; None while closed."""
        if self._retry_at is None:
            return None
        at = datetime.fromtimestamp(self._retry_at, UTC).strftime("%H:%M")
        return f"failing: {self._last_error}; retrying at {at} UTC"

    def allow(self) -> bool:
        """Whether a job may start now: always while closed, never while open, and while
        half-open only when no trial job runs."""
        state = self.state
        return state is BreakerState.CLOSED or (state is BreakerState.HALF_OPEN and not self._trial)

    def begin(self) -> bool:
        """A job is about to start; False when it must not. In half-open it becomes the trial."""
        if not self.allow():
            return False
        if self.state is BreakerState.HALF_OPEN:
            self._trial = True
        return True

    def record(self, success: bool, error: BaseException | None = None) -> Change | None:
        """A job's outcome; ``error`` is None for one that tells nothing (cancelled)."""
        state = self.state
        if state is BreakerState.OPEN:
            return None
        outage = False
        if not success and is_outage(error):
            outage = True
            self._last_error = error.user_message.rstrip(". ")
        if state is BreakerState.CLOSED:
            if success:
                self._count = 0
            elif outage:
                self._count += 1
                if self._count >= self.failures:
                    self._open(self.seconds)
                    return Change.OPENED
            return None
        self._trial = False
        if success:
            self._count = 0
            self._wait = self.seconds
            self._retry_at = None
            return Change.CLOSED
        if outage:
            self._open(min(MAX_WAIT, self._wait * 2))
            return Change.REOPENED
        return None

    def _open(self, wait: float) -> None:
        self._wait = wait
        self._retry_at = self._clock() + wait
