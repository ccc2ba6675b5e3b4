"""Delivery: a job's images and text, where it is delivered, the delivered flag and the
interaction tokens it drops."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from bot.credentials import drop_token, sweep_tokens
from bot.errors import InvalidTransition
from bot.jobs import Job, StoredImage
from bot.store.base import StoreBase, _marks, _maybe
from bot.store.inputs import read_inputs


class JobDelivery(StoreBase):
    """Reading a job's results back and recording their delivery."""

    async def get(self, job_id: int) -> Job | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        if row is None:
            return None
        return Job.from_row(row, await read_inputs(self._db.fetchall, job_id))

    async def images(self, job_id: int) -> list[StoredImage]:
        rows = await self._db.fetchall(
            "SELECT idx, seed, path, width, height, flagged FROM job_images WHERE job_id = ? "
            "ORDER BY idx",
            (job_id,),
        )
        return [
            StoredImage(r["idx"], r["seed"], r["path"], r["width"], r["height"], bool(r["flagged"]))
            for r in rows
        ]

    async def keep_text(self, job: Job, text: str) -> None:
        """Store the text a running attempt found (a caption) before it succeeds, as images
        are written before theirs; a stale attempt is fenced off."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE jobs SET result_text = ? WHERE job_id = ? AND attempt = ? "
                "AND status = 'running'",
                (text, job.job_id, job.attempt),
            )
            if cursor.rowcount == 0:
                row = await _maybe(conn, "SELECT status FROM jobs WHERE job_id = ?", (job.job_id,))
                raise InvalidTransition(job.job_id, "succeeded", row["status"] if row else None)

    async def undelivered(self, origin: str, only: Collection[int] | None = None) -> list[Job]:
        where = "origin = ? AND delivered = 0 AND status IN ('succeeded', 'failed', 'cancelled')"
        params: list[object] = [origin]
        if only is not None:
            where += f" AND job_id IN ({_marks(only)})"
            params += list(only)
        rows = await self._db.fetchall(f"SELECT * FROM jobs WHERE {where} ORDER BY job_id", params)
        return [Job.from_row(row) for row in rows]

    async def mark_delivered(self, job_id: int, reference: str | None) -> bool:
        """Record the delivery and set the flag together, and drop the interaction token the
        delivery used; False if it was already delivered."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE jobs SET delivered = 1 WHERE job_id = ? AND delivered = 0", (job_id,)
            )
            if cursor.rowcount == 0:
                return False
            await conn.execute(
                "INSERT INTO deliveries (job_id, delivered_at, reference) VALUES (?, ?, ?)",
                (job_id, self._clock(), reference),
            )
            await drop_token(conn, job_id)  # delivered: nothing may use it any more
            return True

    async def sweep_tokens(self) -> int:
        """Drop interaction tokens that have expired (or outlived their delivery)."""
        return await sweep_tokens(self._db, self._clock())

    async def update_target(self, job_id: int, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into where the job is delivered (the message it shows in), as a
        JSON merge patch: None removes a key."""
        lock = self._db.dialect.for_update
        async with self._db.transaction() as conn:
            row = await _maybe(conn, f"SELECT target FROM jobs WHERE job_id = ?{lock}", (job_id,))
            if row is None:
                return
            target = _merge_patch(json.loads(row["target"]), changes)
            await conn.execute(
                "UPDATE jobs SET target = ? WHERE job_id = ?", (json.dumps(target), job_id)
            )


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch (what SQLite's json_patch does): objects merge key by key,
    None removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge_patch(merged.get(key), value)
    return merged
