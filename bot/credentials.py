"""The credential a job's target may carry (a Discord interaction token: 15 minutes of webhook
access to the member's conversation) is kept only while it can still be used: it is dropped
when the job is delivered, and swept once it has expired."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from bot.storage import SqlConnection, SqlDatabase

log = logging.getLogger(__name__)

TOKEN = "token"
EXPIRES = "token_expires"  # epoch seconds; kept after the token goes (it is no secret)
HOLDS_TOKEN = f"target LIKE '%\"{TOKEN}\"%'"  # a cheap filter; the JSON decides


def spent(target: dict[str, Any], *, delivered: bool, now: float) -> bool:
    """Whether ``target`` holds a token nobody may use any more."""
    if not isinstance(target, dict) or TOKEN not in target:
        return False
    expires = target.get(EXPIRES)
    return delivered or not isinstance(expires, int | float) or now >= expires


def without_token(text: str) -> str | None:
    """The target's JSON without its token; None when it had none."""
    target = json.loads(text)
    if not isinstance(target, dict) or TOKEN not in target:
        return None
    del target[TOKEN]
    return json.dumps(target)


async def drop_token(conn: SqlConnection, job_id: int) -> None:
    """Inside the caller's transaction, which holds the job's row (delivery)."""
    async with conn.execute("SELECT target FROM jobs WHERE job_id = ?", (job_id,)) as cursor:
        row = await cursor.fetchone()
    changed = without_token(row["target"]) if row is not None else None
    if changed is not None:
        await conn.execute("UPDATE jobs SET target = ? WHERE job_id = ?", (changed, job_id))


async def sweep_tokens(db: SqlDatabase, now: float | None = None) -> int:
    """Drop every token that has expired or whose job was delivered (rows written before
    delivery dropped it included); returns how many went. The candidates are read without
    holding the write lock; each is checked again under its row lock before it changes."""
    now = time.time() if now is None else now
    rows = await db.fetchall(f"SELECT job_id, target, delivered FROM jobs WHERE {HOLDS_TOKEN}")
    due = [
        int(row["job_id"])
        for row in rows
        if spent(json.loads(row["target"]), delivered=bool(row["delivered"]), now=now)
    ]
    if not due:
        return 0
    dropped = 0
    lock = db.dialect.for_update
    async with db.transaction() as conn:
        for job_id in due:
            async with conn.execute(
                f"SELECT target, delivered FROM jobs WHERE job_id = ?{lock}", (job_id,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                continue
            target = json.loads(row["target"])
            if spent(target, delivered=bool(row["delivered"]), now=now):
                del target[TOKEN]
                await conn.execute(
                    "UPDATE jobs SET target = ? WHERE job_id = ?", (json.dumps(target), job_id)
                )
                dropped += 1
    log.info("Dropped %d interaction token(s) that expired or were used", dropped)
    return dropped
