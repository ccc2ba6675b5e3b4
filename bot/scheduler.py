"""Scheduling policy as plain code: fair order, eligibility and batching, whatever the store.

Fairness is start-time fair queueing. Each user's jobs get consecutive tags, and a user who
had nothing waiting starts at the scheduler's virtual time (the tag of the job started last).
Running jobs in tag order is round-robin across users: one user's ten jobs interleave with a
newcomer's instead of running first. A tier's ``priority`` p advances its tags by 1/p, so it
gets p turns for each turn of a priority-1 user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar


def fair_tags(
    virtual_time: float, user_finish: float, user_waiting: int, priority: float
) -> tuple[float, float]:
    """(start tag of the new job, the user's finish tag after it)."""
    start = virtual_time if user_waiting == 0 else max(virtual_time, user_finish)
    return start, start + 1.0 / priority


class Queued(Protocol):
    @property
    def job_id(self) -> int: ...
    @property
    def user_id(self) -> int: ...
    @property
    def provider(self) -> str: ...
    @property
    def batch_key(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Capacity:
    """Free slots per provider and running jobs per user, at the moment of a pick."""

    free_slots: Mapping[str, int]
    running_per_user: Mapping[int, int]
    max_running_per_user: int
    max_batch: Mapping[str, int]

    def open_providers(self) -> list[str]:
        return sorted(name for name, free in self.free_slots.items() if free > 0)

    def busy_users(self) -> list[int]:
        return sorted(
            user for user, n in self.running_per_user.items() if n >= self.max_running_per_user
        )


J = TypeVar("J", bound=Queued)


def fill_batch(head: J, followers: Iterable[J], capacity: Capacity) -> list[J]:
    """The head job plus, in fair order, compatible jobs whose users still have room."""
    batch = [head]
    limit = capacity.max_batch.get(head.provider, 1)
    if limit <= 1 or not head.batch_key:
        return batch
    running = dict(capacity.running_per_user)
    running[head.user_id] = running.get(head.user_id, 0) + 1
    for job in followers:
        if len(batch) >= limit:
            break
        if job.provider != head.provider or job.batch_key != head.batch_key:
            continue
        if running.get(job.user_id, 0) >= capacity.max_running_per_user:
            continue
        running[job.user_id] = running.get(job.user_id, 0) + 1
        batch.append(job)
    return batch


def estimate_wait(
    ahead_same_provider: int, concurrency: int, mean_seconds: float | None
) -> float | None:
    """Seconds until a job finishes: the rounds of work ahead on its provider, plus its own."""
    if mean_seconds is None:
        return None
    return (ahead_same_provider // max(1, concurrency) + 1) * mean_seconds
