"""Usage statistics, and the prompts and posted results of one member."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.storage import Row, SqlDatabase

FINISHED = "('succeeded', 'failed', 'cancelled')"


@dataclass(frozen=True, slots=True)
class ModelUsage:
    provider: str
    model: str
    jobs: int
    images: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Jobs that finished between ``since`` (a UTC midnight) and ``until``."""

    since: float
    until: float
    images_per_day: list[tuple[str, int]]
    models: list[ModelUsage]
    succeeded: int
    failed: int
    cancelled: int
    failure_rate: float | None
    median_seconds: float | None
    p95_seconds: float | None
    top_users: list[tuple[int, int]]
    daily: list[DayUsage] = dataclasses.field(default_factory=list)  # one per day, oldest first


@dataclass(frozen=True, slots=True)
class DayUsage:
    """One UTC day of Stats, for the chart: images by provider, jobs ended, run times."""

    day: str  # YYYY-MM-DD
    images: dict[str, int]  # by provider, of the jobs that succeeded
    succeeded: int
    failed: int
    median_seconds: float | None
    p95_seconds: float | None


class StatsStore:
    """Usage and member history, read from the jobs table."""

    def __init__(self, db: SqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def stats(
        self, guild_id: int | None, *, days: int = 7, now: float | None = None
    ) -> Stats:
        """Usage over the last ``days`` UTC days, today included; every guild when None."""
        if days < 1:
            raise ValueError(f"days must be at least 1, not {days}")
        now = self._clock() if now is None else now
        today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=days - 1)
        where = "AND j.guild_id = ?" if guild_id is not None else ""
        rows = await self._db.fetchall(
            "SELECT j.user_id, j.provider, j.model, j.status, j.started_at, j.finished_at, "
            "(SELECT COUNT(*) FROM job_images i WHERE i.job_id = j.job_id) AS images "
            f"FROM jobs j WHERE j.status IN {FINISHED} AND j.finished_at >= ? "
            f"AND j.finished_at <= ? {where}",
            (start.timestamp(), now, *((guild_id,) if guild_id is not None else ())),
        )
        return _stats(rows, start, days, now)

    async def recent_prompts(
        self, user_id: int, guild_id: int | None, limit: int = 10
    ) -> list[tuple[int, str, float]]:
        """(job_id, prompt, created_at), newest first, in one guild or everywhere (None)."""
        where = "AND guild_id = ?" if guild_id is not None else ""
        rows = await self._db.fetchall(
            f"SELECT job_id, request, created_at FROM jobs WHERE user_id = ? {where} "
            "ORDER BY created_at DESC, job_id DESC LIMIT ?",
            (user_id, *((guild_id,) if guild_id is not None else ()), limit),
        )
        return [
            (row["job_id"], str(json.loads(row["request"]).get("prompt", "")), row["created_at"])
            for row in rows
        ]

    async def delivered_messages(self, user_id: int, guild_id: int) -> list[tuple[int, str]]:
        """(job_id, message reference) of the results posted for a member in a guild."""
        rows = await self._db.fetchall(
            "SELECT j.job_id, d.reference FROM jobs j JOIN deliveries d ON d.job_id = j.job_id "
            "WHERE j.user_id = ? AND j.guild_id = ? AND d.reference IS NOT NULL "
            "ORDER BY j.job_id",
            (user_id, guild_id),
        )
        return [(row["job_id"], row["reference"]) for row in rows]


def _stats(rows: Sequence[Row], start: datetime, days: int, now: float) -> Stats:
    per_day = {(start + timedelta(days=n)).strftime("%Y-%m-%d"): 0 for n in range(days)}
    statuses: Counter[str] = Counter()
    jobs: Counter[tuple[str, str]] = Counter()
    images: Counter[tuple[str, str]] = Counter()
    per_user: Counter[int] = Counter()
    durations = []
    for row in rows:
        statuses[row["status"]] += 1
        key = (row["provider"], row["model"])
        jobs[key] += 1
        if row["status"] != "succeeded":
            continue
        images[key] += row["images"]
        per_user[row["user_id"]] += row["images"]
        day = datetime.fromtimestamp(row["finished_at"], UTC).strftime("%Y-%m-%d")
        per_day[day] = per_day.get(day, 0) + row["images"]
        if row["started_at"] is not None:
            durations.append(row["finished_at"] - row["started_at"])
    durations.sort()
    ended = statuses["succeeded"] + statuses["failed"]
    models = [
        ModelUsage(provider, model, count, images[provider, model])
        for (provider, model), count in jobs.items()
    ]
    models.sort(key=lambda m: (-m.images, -m.jobs, m.provider, m.model))
    top = sorted(per_user.items(), key=lambda item: (-item[1], item[0]))[:5]
    return Stats(
        since=start.timestamp(),
        until=now,
        images_per_day=list(per_day.items()),
        models=models,
        succeeded=statuses["succeeded"],
        failed=statuses["failed"],
        cancelled=statuses["cancelled"],
        failure_rate=statuses["failed"] / ended if ended else None,
        median_seconds=_median(durations),
        p95_seconds=_p95(durations),
        top_users=[(user, count) for user, count in top if count > 0],
        daily=_daily(rows, list(per_day)),
    )


def _daily(rows: Sequence[Row], days: list[str]) -> list[DayUsage]:
    """Per UTC day of ``finished_at``: the same counts and timings as Stats gives in total."""
    images: dict[str, Counter[str]] = {day: Counter() for day in days}
    ended: dict[str, Counter[str]] = {day: Counter() for day in days}
    durations: dict[str, list[float]] = {day: [] for day in days}
    for row in rows:
        day = datetime.fromtimestamp(row["finished_at"], UTC).strftime("%Y-%m-%d")
        ended.setdefault(day, Counter())[row["status"]] += 1
        if row["status"] != "succeeded":
            continue
        images.setdefault(day, Counter())[row["provider"]] += row["images"]
        if row["started_at"] is not None:
            durations.setdefault(day, []).append(row["finished_at"] - row["started_at"])
    usage = []
    for day in sorted(ended):
        spans = sorted(durations.get(day, []))
        usage.append(
            DayUsage(
                day=day,
                images=dict(images.get(day, {})),
                succeeded=ended[day]["succeeded"],
                failed=ended[day]["failed"],
                median_seconds=_median(spans),
                p95_seconds=_p95(spans),
            )
        )
    return usage


def _median(ordered: list[float]) -> float | None:
    return statistics.median(ordered) if ordered else None


def _p95(ordered: list[float]) -> float | None:
    return ordered[math.ceil(0.95 * len(ordered)) - 1] if ordered else None
