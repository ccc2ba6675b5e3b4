"""The engine's error family: every error a provider raises derives from EngineError."""

from __future__ import annotations

from engine.redact import scrub


class EngineError(Exception):
    """Root of the engine's errors. ``user_message`` is safe to show a member: every message
    has the keys the engine holds scrubbed out here, whichever adapter wrote it."""

    def __init__(self, message: str) -> None:
        message = scrub(message)
        super().__init__(message)
        self.user_message = message


# Request fields as /imagine and the CLI call them, for adapters that use the request's names.
OPTION_NAMES = {"lora": "loras", "negative_prompt": "negative"}


class InvalidRequest(EngineError):
    """A request option is out of range or not supported; nothing should be queued or charged.
    ``field`` is the option as members and the CLI name it; ``allowed`` says what to do
    instead; ``value`` None leaves the value out (``allowed`` then says what was wrong)."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        field = OPTION_NAMES.get(field, field)
        self.field = field
        self.value = value
        self.allowed = allowed
        given = "" if value is None else f" can't be {_show(value)}"
        super().__init__(f"`{field}`{given}: {allowed.rstrip('.')}.")


class ProviderConfigError(EngineError):
    """A provider's settings are wrong; raised while building it, before the bot starts."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        super().__init__(f"{key} = {_show(value)} is not allowed: {allowed}")


class GenerationCancelled(EngineError):
    """The run stopped because its cancel token was set."""

    def __init__(self) -> None:
        super().__init__("The generation was cancelled.")


class ProviderError(EngineError):
    """A provider failed. ``retryable`` says whether the same request may succeed later."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderAuthError(ProviderError):
    """The provider refused our credentials: the owner must fix the key."""


class ProviderRejected(ProviderError):
    """The provider refused this request as invalid; ``messages`` are its own words."""

    def __init__(self, message: str, *, messages: tuple[str, ...] = (), status: int | None = None):
        super().__init__(message, status=status)
        self.messages = tuple(scrub(text) for text in messages)


class ContentRefused(ProviderError):
    """The provider's content policy refused the prompt or the result."""


class ProviderUnavailable(ProviderError):
    """The provider cannot be reached or is overloaded; worth a retry."""

    retryable = True


class ProviderTimeout(ProviderUnavailable):
    """No answer in time."""


class OutcomeUnknown(ProviderUnavailable):
    """A request that makes (and may charge for) images was sent, but its outcome was lost: a
    timeout or broken connection after sending, or a failure after the provider accepted it.
    Sending it again could make and charge the same images twice, so the queue does not retry
    it (a provider's ``retry_unknown_outcome`` setting opts back in to retries)."""

    retryable = False


class RateLimited(ProviderUnavailable):
    """The provider asked us to slow down; ``retry_after`` is in seconds when it said."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = 429
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
