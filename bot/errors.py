"""The bot's error family. Refusals carry the data a cog needs and a message a member reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


class BotError(Exception):
    """Root of the bot's errors."""


class SettingsError(BotError):
    """A setting is wrong; start-up stops with this one message."""


class StorageError(BotError):
    """The database cannot be opened or migrated."""


class InvalidTransition(BotError):
    """A job was asked to move to a state its current state does not allow (a stale attempt)."""

    def __init__(self, job_id: int, wanted: str, actual: str | None) -> None:
        super().__init__(f"job {job_id}: cannot go to {wanted} from {actual or 'nowhere'}")
        self.job_id = job_id
        self.wanted = wanted
        self.actual = actual


class Refusal(BotError):
    """An expected 'no' for a member: shown as is, nothing queued, nothing charged."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message

    def worded(self, when: Callable[[float], str]) -> str:
        """The message with its times written by ``when`` (Discord shows a timestamp in the
        reader's own zone); the same as ``user_message`` for a refusal without times."""
        return self.user_message


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _at(timestamp: float) -> str:
    return f"at {_when(timestamp)}"


class QuotaExceeded(Refusal):
    """``everywhere``: the bot's cap on a member's total across all servers and DMs."""

    def __init__(
        self,
        *,
        cost: int,
        remaining: int,
        allowance: int,
        resets_at: float,
        everywhere: bool = False,
    ) -> None:
        self.cost = cost
        self.remaining = remaining
        self.allowance = allowance
        self.resets_at = resets_at
        self.everywhere = everywhere
        super().__init__(self.worded(_at))

    def worded(self, when: Callable[[float], str]) -> str:
        scope = " across all servers" if self.everywhere else ""
        cost, left = self.cost, self.remaining
        instead = (
            " Ask for fewer images (`count`) now, or wait."
            if 0 < left < cost
            else " Try again then."
        )
        return (
            f"This needs {cost} quota unit{'s' if cost != 1 else ''} but you have {left} of "
            f"{self.allowance} left{scope}; your quota resets {when(self.resets_at)}.{instead}"
        )


class CooldownActive(Refusal):
    def __init__(self, *, retry_at: float, cooldown: float) -> None:
        self.retry_at = retry_at
        self.cooldown = cooldown
        super().__init__(self.worded(_at))

    def worded(self, when: Callable[[float], str]) -> str:
        return (
            f"Please wait: one job every {self.cooldown:g} s; you can ask again "
            f"{when(self.retry_at)}."
        )


class QueueLimitReached(Refusal):
    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"You already have {limit} job{'s' if limit != 1 else ''} waiting, the most allowed; "
            "wait for one to finish or cancel one."
        )


class JobNotFound(Refusal):
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"There is no job {job_id} of yours.")


class JobFinished(Refusal):
    def __init__(self, job_id: int, status: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"Job {job_id} has already {status}.")


class JobsStillActive(Refusal):
    def __init__(self, count: int) -> None:
        self.count = count
        super().__init__(
            f"You have {count} job{'s' if count != 1 else ''} still queued or running; cancel "
            "them with /cancel or wait, then try again."
        )


class JobGone(Refusal):
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"Job {job_id} is no longer stored, so there is nothing to report.")


class Banned(Refusal):
    def __init__(self, *, reason: str = "", expires_at: float | None = None) -> None:
        self.reason = reason
        self.expires_at = expires_at
        reason = reason.strip().rstrip(".")
        message = "You can't use the image bot here" + (f": {reason}." if reason else ".")
        if expires_at is not None:
            message += f" (until {_when(expires_at)})"
        super().__init__(message)


class BlockedPrompt(Refusal):
    """``timed_out``: the term's regex ran out of time on the text, which counts as a match;
    the member is not shown the pattern, moderators see it in the audit log."""

    def __init__(self, term: str, field: str = "prompt", *, timed_out: bool = False) -> None:
        self.term = term
        self.field = field
        self.timed_out = timed_out
        super().__init__(
            f"Your {field} could not be checked against this server's blocked terms in time, "
            "so it was refused; nothing was queued or charged. Try rewording it."
            if timed_out
            else f"Your {field} contains a blocked term ({term}); nothing was queued or charged."
        )


class InvalidTerm(Refusal):
    """A moderator's blocked term that cannot be added, and ``why`` in words."""

    def __init__(self, pattern: str, why: str) -> None:
        self.pattern = pattern
        self.why = why
        super().__init__(f"Cannot block that term: {why}.")


class StorageUnavailable(Refusal):
    """The database could not take a write (busy past the timeout, or the disk is full); it
    was rolled back whole, so nothing was queued or charged. Clears when the cause does."""

    def __init__(self, full: bool) -> None:
        self.full = full
        super().__init__(
            "The bot's storage is full, so nothing could be saved; the owner needs to free "
            "some space. Nothing was queued or charged."
            if full
            else "The bot's database is busy; please try again in a moment. Nothing was "
            "queued or charged."
        )
