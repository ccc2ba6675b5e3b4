"""Saved styles on one /imagine's prompts: which style each permutation uses, its text on the
prompt and the negative prompt, its parameters under the member's own."""

from __future__ import annotations

import dataclasses

from bot.prompting.params import InlineParams, format_params
from bot.prompting.plan import Draft, Ignored
from bot.providers import Providers
from bot.style_store import StyleStore
from bot.styles import NO_STYLE, Style, merge, under
from engine import GenerationRequest


class Styling:
    """The style option wins over a permutation's ``--style`` (which is then noted as
    ignored), and either over the member's ``default`` (``-`` for none); each name is looked
    up once. A style
    named that does not exist is refused (UnknownStyle); a default that does not exist here
    is left out."""

    def __init__(
        self,
        styles: StyleStore,
        guild_id: int | None,
        user_id: int,
        *,
        option: str | None,
        default: str | None,
    ) -> None:
        self._styles = styles
        self._guild_id = guild_id
        self._user_id = user_id
        self._option = option
        self._default = default
        self._found: dict[str | None, Style | None] = {}

    async def draft(self, draft: Draft) -> tuple[Draft, Style | None, list[Ignored]]:
        """``draft`` with its style applied: the style's text on the prompt (a suffix, or the
        template its ``{prompt}`` makes), the style's parameters under the draft's. Returns
        the style (None for none) and the draft's ``--style`` when the option overrode it."""
        inline = draft.params.style
        ignored = []
        if self._option is not None and inline is not None:
            ignored.append(Ignored(format_params(InlineParams(style=inline)), "style"))
        name = self._option or inline
        if name == NO_STYLE:
            return Draft(draft.prompt, dataclasses.replace(draft.params, style=None)), None, ignored
        if name not in self._found:
            self._found[name] = await self._styles.chosen(
                self._guild_id, self._user_id, name, self._default
            )
        style = self._found[name]
        if style is None:
            return Draft(draft.prompt, dataclasses.replace(draft.params, style=None)), None, ignored
        params = dataclasses.replace(under(style, draft.params), style=None)
        return Draft(merge(style.prompt, draft.prompt), params), style, ignored


def styled_negative(
    providers: Providers,
    provider: str | None,
    style: Style | None,
    request: GenerationRequest,
    *,
    typed: bool,
) -> GenerationRequest:
    """The style's negative prompt joined to the request's (a template's ``{prompt}`` is the
    member's). Like a default negative prompt, left out for a model that takes none, unless
    the member typed a negative prompt (which that model then refuses by name)."""
    if style is None or not style.negative:
        return request
    negative = merge(style.negative, request.negative_prompt)
    if not typed:
        negative = providers.default_negative(provider, request.model, negative) or (
            request.negative_prompt
        )
    return request.replace(negative_prompt=negative)
