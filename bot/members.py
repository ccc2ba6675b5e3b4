"""What the bot keeps about a member: preferences, history, guild settings, reports, forgetting."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bot.errors import JobGone, JobsStillActive
from bot.jobs import Job
from bot.moderation import forget_member_texts
from bot.storage import SqlDatabase
from bot.storage.files import remove_folders
from bot.style_store import forget_member_styles

log = logging.getLogger(__name__)

T = TypeVar("T")

FINISHED = "('succeeded', 'failed', 'cancelled')"
ACTIVE = "('queued', 'running')"


@dataclass(frozen=True, slots=True)
class Preferences:
    model: str | None = None
    width: int | None = None
    height: int | None = None
    negative_prompt: str | None = None
    private_delivery: bool = False
    style: str | None = None  # the default style's name (bot.style_store.StyleStore.chosen)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    jobs: list[Job]
    page: int
    pages: int
    total: int


class MemberStore:
    def __init__(
        self, db: SqlDatabase, results_dir: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._results_dir = results_dir
        self._clock = clock

    async def preferences(self, user_id: int) -> Preferences:
        row = await self._db.fetchone(
            "SELECT model, width, height, negative_prompt, private_delivery, style "
            "FROM user_preferences WHERE user_id = ?",
            (user_id,),
        )
        if row is None:
            return Preferences()
        return Preferences(
            model=row["model"],
            width=row["width"],
            height=row["height"],
            negative_prompt=row["negative_prompt"],
            private_delivery=bool(row["private_delivery"]),
            style=row["style"],
        )

    async def save_preferences(self, user_id: int, preferences: Preferences) -> None:
        now = self._clock()
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO users (user_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (user_id, now),
            )
            await conn.execute(
                "INSERT INTO user_preferences (user_id, model, width, height, negative_prompt, "
                "private_delivery, style, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET model = excluded.model, "
                "width = excluded.width, height = excluded.height, "
                "negative_prompt = excluded.negative_prompt, "
                "private_delivery = excluded.private_delivery, style = excluded.style, "
                "updated_at = excluded.updated_at",
                (
                    user_id,
                    preferences.model,
                    preferences.width,
                    preferences.height,
                    preferences.negative_prompt,
                    preferences.private_delivery,
                    preferences.style,
                    now,
                ),
            )

    async def clear_preferences(self, user_id: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM user_preferences WHERE user_id = ?", (user_id,))

    async def history(self, user_id: int, *, page: int = 0, per_page: int = 5) -> HistoryPage:
        """The member's finished jobs, newest first; a page out of range shows the nearest."""
        found = await self._db.page(
            f"jobs WHERE user_id = ? AND status IN {FINISHED}",
            (user_id,),
            "finished_at DESC, job_id DESC",
            page=page,
            per_page=per_page,
        )
        jobs = [Job.from_row(row) for row in found.rows]
        return HistoryPage(jobs, found.page, found.pages, found.total)

    async def active(self, user_id: int) -> list[Job]:
        """Queued and running jobs, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT * FROM jobs WHERE user_id = ? AND status IN {ACTIVE} ORDER BY job_id",
            (user_id,),
        )
        return [Job.from_row(row) for row in rows]

    async def forget(self, user_id: int) -> int:
        """Delete the member's finished jobs with their inputs, results and deliveries, their
        result files, their preferences, their own saved styles, and their prompts quoted in
        the audit log (whose entries stay: what happened is kept); returns how many jobs went.
        The quota ledger stays, so forgetting never resets a quota; reports keep their row with
        the job unlinked."""
        async with self._db.transaction() as conn:
            async with conn.execute(
                f"SELECT COUNT(*) FROM jobs WHERE user_id = ? AND status IN {ACTIVE}", (user_id,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None and row[0]:
                raise JobsStillActive(int(row[0]))
            async with conn.execute(
                f"DELETE FROM jobs WHERE user_id = ? AND status IN {FINISHED} RETURNING job_id",
                (user_id,),
            ) as cursor:
                job_ids = [int(row[0]) for row in await cursor.fetchall()]
            await conn.execute("DELETE FROM user_preferences WHERE user_id = ?", (user_id,))
            await forget_member_styles(conn, user_id)
            entries = await forget_member_texts(conn, user_id)
        await asyncio.to_thread(
            remove_folders,
            [self._results_dir / str(job_id) for job_id in job_ids],
            "a forgotten job's results",
        )
        log.info(
            "Forgot member %d: %d jobs, prompts in %d audit entries", user_id, len(job_ids), entries
        )
        return len(job_ids)

    async def file_report(
        self,
        job_id: int,
        *,
        reporter_id: int,
        guild_id: int | None,
        reason: str = "",
        seen: tuple[int, int] | None = None,
    ) -> tuple[int, bool]:
        """Open a report on a job, filed where it was seen: ``guild_id`` and ``seen`` (the
        channel and message). A member's repeat returns their open report and False."""
        lock = self._db.dialect.for_update  # one member's two clicks open one report
        async with self._db.transaction() as conn:
            async with conn.execute(
                f"SELECT 1 FROM jobs WHERE job_id = ?{lock}", (job_id,)
            ) as cursor:
                if await cursor.fetchone() is None:
                    raise JobGone(job_id)
            async with conn.execute(
                "SELECT report_id FROM reports WHERE job_id = ? AND reporter_id = ? "
                "AND status = 'open'",
                (job_id, reporter_id),
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None:
                return int(row[0]), False
            async with conn.execute(
                "INSERT INTO reports (job_id, guild_id, reporter_id, reason, created_at, "
                "seen_channel_id, seen_message_id) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "RETURNING report_id",
                (job_id, guild_id, reporter_id, reason, self._clock(), *(seen or (None, None))),
            ) as cursor:
                inserted = await cursor.fetchone()
            assert inserted is not None
            return int(inserted[0]), True
