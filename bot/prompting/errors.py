"""The one error the prompt parsers raise: an ``InvalidRequest`` whose message can be worded
in the member's language (``template`` is the English catalogue key, ``values`` fill it)."""

from __future__ import annotations

from typing import Any

from bot.i18n import N_
from engine import InvalidRequest

__all__ = ["N_", "PromptError"]


class PromptError(InvalidRequest):
    """An inline parameter, a permutation or a wildcard that can't be used; nothing is queued."""

    def __init__(self, field: str, template: str, **values: Any) -> None:
        self.template = template
        self.values = {"name": field, **values}
        super().__init__(field, None, template.format(**self.values))

    def worded(self, translate: Any) -> str:
        """The message through ``translate(template, **values)`` (``bot.i18n.t`` bound to a
        locale), in the same shape as ``InvalidRequest``'s."""
        return f"`{self.field}`: {translate(self.template, **self.values).rstrip('.')}."
