"""The audit log of moderator actions: written in each action's own transaction, read by page."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.moderation.common import from_row, insert
from bot.storage import Row, SqlConnection, SqlDatabase

MEMBER_TEXTS = frozenset({"prompt", "negative_prompt"})  # audit details quoting a member


@dataclass(frozen=True, slots=True)
class AuditEntry:
    entry_id: int
    guild_id: int | None
    actor_id: int
    action: str
    target_id: int | None
    reason: str
    details: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]
    page: int
    pages: int
    total: int


class AuditStore:
    """The audit log in the database."""

    def __init__(self, db: SqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def record(
        self,
        *,
        guild_id: int | None,
        actor_id: int,
        action: str,
        target_id: int | None = None,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        now = self._clock()
        async with self._db.transaction() as conn:
            return await record_in(
                conn,
                now,
                guild_id=guild_id,
                actor_id=actor_id,
                action=action,
                target_id=target_id,
                reason=reason,
                details=details,
            )

    async def audit(self, guild_id: int | None, *, page: int = 0, per_page: int = 10) -> AuditPage:
        """Newest first, one guild or every guild (None); a page out of range shows the nearest."""
        where, params = ("WHERE guild_id = ?", (guild_id,)) if guild_id is not None else ("", ())
        found = await self._db.page(
            f"audit_log {where}",
            params,
            "created_at DESC, entry_id DESC",
            page=page,
            per_page=per_page,
        )
        entries = [_entry(row) for row in found.rows]
        return AuditPage(entries, found.page, found.pages, found.total)


async def record_in(
    conn: SqlConnection,
    now: float,
    *,
    guild_id: int | None,
    actor_id: int,
    action: str,
    target_id: int | None = None,
    reason: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """An entry written in the caller's transaction, with the action it records."""
    details = dict(details or {})
    entry_id = await insert(
        conn,
        "INSERT INTO audit_log (guild_id, actor_id, action, target_id, reason, details, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING entry_id",
        (guild_id, actor_id, action, target_id, reason, json.dumps(details), now),
    )
    return AuditEntry(entry_id, guild_id, actor_id, action, target_id, reason, details, now)


async def forget_member_texts(conn: SqlConnection, user_id: int) -> int:
    """For /forget-me, in the caller's transaction: audit entries about the member keep what
    happened, when, by whom and why, but lose the member's own words (their prompts). Returns
    how many entries changed."""
    async with conn.execute(
        "SELECT entry_id, details FROM audit_log WHERE target_id = ?", (user_id,)
    ) as cursor:
        rows = list(await cursor.fetchall())
    changed = 0
    for row in rows:
        details = json.loads(row["details"])
        if not isinstance(details, dict) or not MEMBER_TEXTS & details.keys():
            continue
        kept = {key: value for key, value in details.items() if key not in MEMBER_TEXTS}
        await conn.execute(
            "UPDATE audit_log SET details = ? WHERE entry_id = ?",
            (json.dumps({**kept, "forgotten": True}), row["entry_id"]),
        )
        changed += 1
    return changed


def _entry(row: Row) -> AuditEntry:
    return from_row(AuditEntry, row, details=json.loads(row["details"]))
