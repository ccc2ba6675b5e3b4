"""Free disk space where results and the database live: below the owner's threshold no new
job starts, and /status says why."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from bot.i18n import N_
from bot.settings import Settings

log = logging.getLogger(__name__)

MB = 1024 * 1024
NOTICE = N_("The bot's disk is nearly full: new jobs wait until its owner frees some space.")


def watched_paths(settings: Settings) -> tuple[Path, ...]:
    """The results folder, and the SQLite file's folder in the embedded mode."""
    storage = settings.storage
    if settings.scale.enabled:
        return (storage.results_path,)
    return storage.results_path, storage.database_path.parent


async def current_shortage(settings: Settings) -> str | None:
    """What /status shows: the same check the worker makes before it starts a job."""
    min_free_mb = settings.storage.min_free_mb
    return await asyncio.to_thread(shortage, watched_paths(settings), min_free_mb)


def shortage(paths: Iterable[Path], min_free_mb: int) -> str | None:
    """Why no job may start (a sentence for the log and /status), or None when there is room.
    A folder not made yet is measured on its nearest existing parent."""
    if min_free_mb <= 0:
        return None
    for path in paths:
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is None:
            continue
        try:
            free = shutil.disk_usage(existing).free
        except OSError as err:
            return f"the free space of {path} cannot be read ({err.strerror or err})"
        if free < min_free_mb * MB:
            return f"only {free // MB} MB free for {path} (storage.min_free_mb is {min_free_mb})"
    return None


class SpaceGuard:
    """Checks before each claim; logs once when space runs short and once when it returns."""

    def __init__(self, paths: Iterable[Path], min_free_mb: int) -> None:
        self._paths = tuple(paths)
        self._min_free_mb = min_free_mb
        self.short: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> SpaceGuard:
        return cls(watched_paths(settings), settings.storage.min_free_mb)

    async def check(self) -> str | None:
        """The current shortage, or None; off the event loop (a network mount can stall)."""
        if self._min_free_mb <= 0:
            return None
        short = await asyncio.to_thread(shortage, self._paths, self._min_free_mb)
        if short and not self.short:
            log.warning("Not starting new jobs until space is freed: %s", short)
        elif self.short and not short:
            log.info("Free space is back; starting jobs again")
        self.short = short
        return short
