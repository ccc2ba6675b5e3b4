"""The bot's error family. Refusals carry the data a cog needs and a message a member reads."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.i18n import ENGLISH, Text, lazy_t, lazy_tn, t, tn, worded
from bot.prompting.errors import PromptError
from engine.errors import EngineError, InvalidRequest


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
    """An expected 'no' for a member: shown as is, nothing queued, nothing charged. ``message``
    is a ``Text`` (``lazy_t``), written in the reader's language when shown; a plain string is
    shown as it is. ``user_message`` is the English form."""

    def __init__(self, message: str | Text) -> None:
        self.message = message
        super().__init__(str(message))
        self.user_message = str(message)

    def worded(self, when: Callable[[float], str], locale: object = ENGLISH) -> str:
        """The message in ``locale``'s language with its times written by ``when`` (Discord
        shows a timestamp in the reader's own zone)."""
        return worded(locale, self.message)


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

    def worded(self, when: Callable[[float], str], locale: object = ENGLISH) -> str:
        values: dict[str, Any] = {
            "left": self.remaining,
            "allowance": self.allowance,
            "when": when(self.resets_at),
        }
        if self.everywhere:
            need = tn(
                locale,
                "This needs {count} quota unit but you have {left} of {allowance} left across "
                "all servers; your quota resets {when}.",
                "This needs {count} quota units but you have {left} of {allowance} left across "
                "all servers; your quota resets {when}.",
                self.cost,
                **values,
            )
        else:
            need = tn(
                locale,
                "This needs {count} quota unit but you have {left} of {allowance} left; your "
                "quota resets {when}.",
                "This needs {count} quota units but you have {left} of {allowance} left; your "
                "quota resets {when}.",
                self.cost,
                **values,
            )
        instead = (
            t(locale, "Ask for fewer images (`count`) now, or wait.")
            if 0 < self.remaining < self.cost
            else t(locale, "Try again then.")
        )
        return f"{need} {instead}"


class CooldownActive(Refusal):
    def __init__(self, *, retry_at: float, cooldown: float) -> None:
        self.retry_at = retry_at
        self.cooldown = cooldown
        super().__init__(self.worded(_at))

    def worded(self, when: Callable[[float], str], locale: object = ENGLISH) -> str:
        return t(
            locale,
            "Please wait: one job every {seconds} s; you can ask again {when}.",
            seconds=format(self.cooldown, "g"),
            when=when(self.retry_at),
        )


class QueueLimitReached(Refusal):
    def __init__(self, *, limit: int) -> None:
        self.limit = limit
        super().__init__(
            lazy_tn(
                "You already have {count} job waiting, the most allowed; wait for it to finish "
                "or cancel it.",
                "You already have {count} jobs waiting, the most allowed; wait for one to "
                "finish or cancel one.",
                limit,
            )
        )


class JobNotFound(Refusal):
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(lazy_t("There is no job {job} of yours.", job=job_id))


class JobFinished(Refusal):
    def __init__(self, job_id: int, status: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(
            {
                "succeeded": lazy_t("Job {job} has already succeeded.", job=job_id),
                "failed": lazy_t("Job {job} has already failed.", job=job_id),
                "cancelled": lazy_t("Job {job} has already been cancelled.", job=job_id),
            }.get(status, f"Job {job_id} has already {status}.")
        )


class JobsStillActive(Refusal):
    def __init__(self, count: int) -> None:
        self.count = count
        super().__init__(
            lazy_tn(
                "You have {count} job still queued or running; cancel it with /cancel or "
                "wait, then try again.",
                "You have {count} jobs still queued or running; cancel them with /cancel or "
                "wait, then try again.",
                count,
            )
        )


class JobGone(Refusal):
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(
            lazy_t("Job {job} is no longer stored, so there is nothing to report.", job=job_id)
        )


class Banned(Refusal):
    def __init__(self, *, reason: str = "", expires_at: float | None = None) -> None:
        self.reason = reason
        self.expires_at = expires_at
        super().__init__(self.worded(_when))

    def worded(self, when: Callable[[float], str], locale: object = ENGLISH) -> str:
        reason = self.reason.strip().rstrip(".")
        message = (
            t(locale, "You can't use the image bot here: {reason}.", reason=reason)
            if reason
            else t(locale, "You can't use the image bot here.")
        )
        if self.expires_at is not None:
            message += " " + t(locale, "(until {when})", when=when(self.expires_at))
        return message


class BlockedPrompt(Refusal):
    """``timed_out``: the term's regex ran out of time on the text, which counts as a match;
    the member is not shown the pattern, moderators see it in the audit log."""

    def __init__(self, term: str, field: str = "prompt", *, timed_out: bool = False) -> None:
        self.term = term
        self.field = field
        self.timed_out = timed_out
        super().__init__(
            lazy_t(
                "Your {field} could not be checked against this server's blocked terms in "
                "time, so it was refused; nothing was queued or charged. Try rewording it.",
                field=field,
            )
            if timed_out
            else lazy_t(
                "Your {field} contains a blocked term ({term}); nothing was queued or charged.",
                field=field,
                term=term,
            )
        )


class InvalidTerm(Refusal):
    """A moderator's blocked term that cannot be added, and ``why`` in words."""

    def __init__(self, pattern: str, why: str) -> None:
        self.pattern = pattern
        self.why = why
        super().__init__(lazy_t("Cannot block that term: {why}.", why=why))


class StorageUnavailable(Refusal):
    """The database could not take a write (busy past the timeout, or the disk is full); it
    was rolled back whole, so nothing was queued or charged. Clears when the cause does."""

    def __init__(self, full: bool) -> None:
        self.full = full
        super().__init__(
            lazy_t(
                "The bot's storage is full, so nothing could be saved; the owner needs to free "
                "some space. Nothing was queued or charged."
            )
            if full
            else lazy_t(
                "The bot's database is busy; please try again in a moment. Nothing was "
                "queued or charged."
            )
        )


class InvalidOption(InvalidRequest):
    """An ``InvalidRequest`` raised by the bot, its advice a ``Text`` (``lazy_t``) so the
    member reads it in their language."""

    def __init__(self, field: str, value: object, advice: Text) -> None:
        super().__init__(field, value, str(advice))
        self.advice = advice


def in_words(
    error: Refusal | EngineError, when: Callable[[float], str], locale: object = ENGLISH
) -> str:
    """An expected error in a member's words and language. An engine error's own words are
    English (a provider's, or the engine's); an invalid option is framed in the member's
    language, with its advice translated where the catalogue has it."""
    if isinstance(error, Refusal):
        return error.worded(when, locale)
    if isinstance(error, PromptError):
        return error.worded(functools.partial(t, locale))
    if isinstance(error, InvalidRequest):
        advice = error.advice if isinstance(error, InvalidOption) else error.allowed
        allowed = worded(locale, advice).rstrip(".")
        if error.value is None:
            return t(locale, "`{field}`: {allowed}.", field=error.field, allowed=allowed)
        return t(
            locale,
            "`{field}` can't be {value}: {allowed}.",
            field=error.field,
            value=_shown(error.value),
            allowed=allowed,
        )
    return error.user_message


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
