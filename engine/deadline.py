"""The time by which the current run must end, so that a wait inside it (a provider's
Retry-After) can tell whether it still fits. The worker sets it around each run."""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import Any

_deadline: ContextVar[float | None] = ContextVar("engine_run_deadline", default=None)


class run_within:
    """Code inside (and the tasks it starts) must finish within ``seconds``; works with
    ``with`` and ``async with`` (beside ``asyncio.timeout``)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._token: Token[float | None] | None = None

    def __enter__(self) -> None:
        self._token = _deadline.set(time.monotonic() + self._seconds)

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None:
            _deadline.reset(self._token)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)


def time_left() -> float | None:
    """Seconds left before the current run's deadline; None outside a run."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
