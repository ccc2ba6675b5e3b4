"""Members' reports of results, and how moderators close them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bot.moderation.audit import record_in
from bot.moderation.common import from_row
from bot.storage import Row, SqlDatabase

ReportStatus = Literal["open", "resolved", "dismissed"]


@dataclass(frozen=True, slots=True)
class Report:
    report_id: int
    job_id: int | None
    guild_id: int | None
    reporter_id: int
    reason: str
    status: ReportStatus
    created_at: float
    resolved_at: float | None
    resolver_id: int | None
    channel_id: int | None
    message_id: int | None
    seen_channel_id: int | None  # the reported message, where the reporter saw it
    seen_message_id: int | None


class ReportStore:
    """Reports in the database."""

    def __init__(self, db: SqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def report(self, report_id: int) -> Report | None:
        row = await self._db.fetchone("SELECT * FROM reports WHERE report_id = ?", (report_id,))
        return _report(row) if row else None

    async def open_reports(self, guild_id: int | None) -> list[Report]:
        """Oldest first, in one guild or everywhere (None), reports filed in DMs included."""
        where = "AND guild_id = ?" if guild_id is not None else ""
        rows = await self._db.fetchall(
            f"SELECT * FROM reports WHERE status = 'open' {where} ORDER BY report_id",
            (guild_id,) if guild_id is not None else (),
        )
        return [_report(row) for row in rows]

    async def resolve_report(
        self, report_id: int, *, actor_id: int, status: Literal["resolved", "dismissed"]
    ) -> bool:
        """Close an open report; False when it is gone or already closed."""
        if status not in ("resolved", "dismissed"):
            raise ValueError(f"a report is resolved or dismissed, not {status!r}")
        now = self._clock()
        async with self._db.transaction() as conn:
            async with conn.execute(
                "SELECT guild_id, job_id FROM reports WHERE report_id = ? AND status = 'open'",
                (report_id,),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return False
            await conn.execute(
                "UPDATE reports SET status = ?, resolved_at = ?, resolver_id = ? "
                "WHERE report_id = ?",
                (status, now, actor_id, report_id),
            )
            await record_in(
                conn,
                now,
                guild_id=row["guild_id"],
                actor_id=actor_id,
                action=f"report.{status}",
                target_id=report_id,
                details={"job_id": row["job_id"]},
            )
        return True

    async def set_report_message(self, report_id: int, channel_id: int, message_id: int) -> None:
        """Where the report was posted for moderators, so its buttons can find it again."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE reports SET channel_id = ?, message_id = ? WHERE report_id = ?",
                (channel_id, message_id, report_id),
            )


def _report(row: Row) -> Report:
    return from_row(Report, row)
