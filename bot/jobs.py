"""Jobs: the status machine, who asked, and the row a job is stored as."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from bot.storage.sql import Row
from engine import GenerationRequest


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

# The only moves a job makes. RUNNING -> QUEUED is a retry, a requeue at shutdown or after a
# crash; every other arrow ends the job.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.QUEUED}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def sources_of(target: JobStatus) -> tuple[str, ...]:
    """The states a job may be in to move to ``target``."""
    return tuple(source.value for source, targets in TRANSITIONS.items() if target in targets)


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked and where. ``guild_id`` is None in DMs and for the console."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    role_ids: frozenset[int] = frozenset()
    locale: str | None = None  # the language to answer in (bot.i18n), None: English


@dataclass(frozen=True, slots=True)
class InputImages:
    """A job's stored input images (``GenerationRequest``'s image fields)."""

    init: bytes | None = None
    mask: bytes | None = None
    extras: tuple[bytes, ...] = ()
    references: tuple[bytes, ...] = ()
    control: bytes | None = None


@dataclass(frozen=True, slots=True)
class Job:
    job_id: int
    user_id: int
    guild_id: int | None
    channel_id: int | None
    origin: str
    provider: str
    model: str
    batch_key: str
    request: GenerationRequest
    target: dict[str, Any]
    status: JobStatus
    attempt: int
    max_attempts: int
    timeout_seconds: float
    cost: int
    cancel_requested: bool
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    delivered: bool
    result_text: str | None = None  # what a describe job found; None for images
    locale: str | None = None  # the requester's language for its messages; None: English

    @classmethod
    def from_row(cls, row: Row, inputs: InputImages | None = None) -> Job:
        images = inputs or InputImages()
        return cls(
            job_id=row["job_id"],
            user_id=row["user_id"],
            guild_id=row["guild_id"],
            channel_id=row["channel_id"],
            origin=row["origin"],
            provider=row["provider"],
            model=row["model"],
            batch_key=row["batch_key"],
            request=GenerationRequest.from_dict(
                json.loads(row["request"]),
                images.init,
                images.mask,
                images.extras,
                images.references,
                images.control,
            ),
            target=json.loads(row["target"]),
            status=JobStatus(row["status"]),
            attempt=row["attempt"],
            max_attempts=row["max_attempts"],
            timeout_seconds=row["timeout_seconds"],
            cost=row["cost"],
            cancel_requested=bool(row["cancel_requested"]),
            error=row["error"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            delivered=bool(row["delivered"]),
            result_text=row["result_text"],
            locale=row["locale"],
        )


@dataclass(frozen=True, slots=True)
class NewJob:
    """A validated request, priced and ready to be stored."""

    requester: Requester
    origin: str
    provider: str
    model: str
    batch_key: str
    request: GenerationRequest
    cost: int
    max_attempts: int
    timeout_seconds: float
    target: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredImage:
    index: int
    seed: int | None
    path: str
    width: int
    height: int
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class QueuePosition:
    """``position`` counts the jobs that run before this one (0: next); ``eta`` is seconds."""

    job_id: int
    status: JobStatus
    position: int
    eta: float | None
