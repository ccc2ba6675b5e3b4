"""Inline parameters in the result buttons' prompt boxes (Remix, Vary (Region)'s new prompt,
Edit's instruction): read by the same parser as /imagine, refused in the same words, applied
to the one job the form queues.

A form queues one job, so permutations and ``--repeat`` are refused (pointing to /imagine),
and each form takes only the parameters that mean something for it: Remix keeps the job's
model and references, a repaint keeps the image's size, an edit instruction takes a seed and
things to keep out."""

from __future__ import annotations

from functools import partial
from typing import Any

import discord

from bot.errors import Refusal
from bot.i18n import locale_of, t
from bot.prompting.errors import N_, PromptError
from bot.prompting.params import InlineParams, parse
from bot.prompting.permutations import count, expand, has_groups
from bot.prompting.plan import merged_negative
from bot.prompting.wildcards import Wildcards
from cogs.common import runtime_of
from cogs.imagine_requests import wildcarded
from cogs.options import aspect_size
from engine import GenerationRequest

REMIX = frozenset({"ar", "no", "seed", "steps", "guidance", "sampler", "tile", "chaos"})
REGION = frozenset({"no", "seed", "steps", "guidance", "sampler"})
EDIT = frozenset({"no", "seed"})
TYPED = {"guidance": "cfg"}  # the name shown for a field, where it is not the field's own

NOT_HERE = N_("{form} doesn't take it; here you may use {allowed} (/imagine takes them all)")
ONE_JOB = N_("these choices make several prompts, and {form} queues one; use /imagine for them")


def read(
    interaction: discord.Interaction[Any],
    text: str,
    form: str,
    allowed: frozenset[str],
    *,
    text_needed: bool = True,
) -> tuple[str, InlineParams]:
    """The prompt typed in ``form`` without its parameters, and the parameters; a refusal in
    the member's language where the text can't be used (nothing is queued or charged).
    Without ``text_needed`` parameters alone are fine (they apply to the job's own prompt)."""
    try:
        return _read(text, form, allowed, text_needed)
    except PromptError as err:
        raise Refusal(err.worded(partial(t, locale_of(interaction)))) from None


def _read(
    text: str, form: str, allowed: frozenset[str], text_needed: bool
) -> tuple[str, InlineParams]:
    if has_groups(text) or "\\" in text:
        if count(text, 1) > 1:
            raise PromptError("{ }", ONE_JOB, form=form)
        (text,) = expand(text, 1)
    prompt, params = parse(text)
    for field in params.given:
        if field not in allowed:
            shown = ", ".join(f"--{TYPED.get(name, name)}" for name in sorted(allowed))
            raise PromptError(f"--{TYPED.get(field, field)}", NOT_HERE, form=form, allowed=shown)
    if text_needed and params.given and not prompt.strip():
        raise PromptError("prompt", N_("write some text before the parameters"))
    return prompt, params


async def applied(
    interaction: discord.Interaction[Any],
    request: GenerationRequest,
    params: InlineParams,
    provider: str | None,
) -> GenerationRequest:
    """``request`` with the parameters a form's prompt gave (``--no`` added to its negative
    prompt, ``--ar`` drawn at the model's usual pixel count, as /imagine's aspect) and its
    wildcards replaced, picked by its seed as /imagine picks them."""
    request = _with_params(interaction, request, params, provider)
    runtime = runtime_of(interaction)
    wildcards = Wildcards(runtime.settings.prompts.wildcards_dir)
    try:
        return await wildcarded(runtime, wildcards, request, request.seed, provider)
    except PromptError as err:
        raise Refusal(err.worded(partial(t, locale_of(interaction)))) from None


def _with_params(
    interaction: discord.Interaction[Any],
    request: GenerationRequest,
    params: InlineParams,
    provider: str | None,
) -> GenerationRequest:
    changes: dict[str, Any] = {}
    for field in ("seed", "steps", "guidance", "sampler", "chaos"):
        if getattr(params, field) is not None:
            changes[field] = getattr(params, field)
    if params.tile:
        changes["tile"] = True
    if params.no:
        changes["negative_prompt"] = merged_negative(request.negative_prompt, params.no)
    if params.aspect is not None:
        entry = runtime_of(interaction).providers.get(provider)
        model = request.model or entry.provider.default_model
        usual = entry.provider.prepare(GenerationRequest("size", model=model)).size
        changes["width"], changes["height"] = aspect_size(params.aspect, usual[0] * usual[1])
    return request.replace(**changes) if changes else request
