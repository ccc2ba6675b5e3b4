"""The prompt helper's refusals: each carries its English text (the catalogue key) and its
values, so a cog can say it in the member's language."""

from __future__ import annotations

from typing import Any

from bot.errors import Refusal
from bot.i18n import N_


class HelperError(Refusal):
    """Root of the helper's errors; ``template`` and ``values`` give the message."""

    template = N_("The prompt helper couldn't help this time; nothing was changed or charged.")

    def __init__(self, **values: Any) -> None:
        self.values = values
        super().__init__(self.template.format(**values))


class HelperBusy(HelperError):
    template = N_(
        "You've asked the prompt helper {count} times in the last minute; try again in {wait} s."
    )


class HelperTimeout(HelperError):
    template = N_(
        "The prompt helper didn't answer within {seconds} s; try again later, or use your "
        "prompt as it is."
    )


class HelperUnavailable(HelperError):
    """``detail``: the server's own words, scrubbed of the key, for the owner (the log,
    ``python -m bot check``), never for the member."""

    template = N_(
        "The prompt helper isn't reachable right now; try again later, or use your prompt as "
        "it is. (The bot's owner can see why in the log.)"
    )

    def __init__(self, detail: str = "") -> None:
        super().__init__()
        self.detail = detail


class HelperRefused(HelperError):
    template = N_(
        "The prompt helper gave no usable answer ({why}); try other words, or use your prompt "
        "as it is."
    )
