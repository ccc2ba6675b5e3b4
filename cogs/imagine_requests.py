"""/imagine's requests from a prompt's permutations: the command's options, else the inline
parameters, else the member's and the place's defaults; sizes from an aspect ratio; seeds
and wildcards for each job."""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Any

from bot.errors import InvalidOption
from bot.i18n import lazy_t
from bot.members import Preferences
from bot.prompting.params import InlineParams
from bot.prompting.plan import Draft, merged_negative
from bot.prompting.wildcards import Wildcards
from cogs.catalogue import Catalogue
from cogs.options import ASPECTS, aspect_size
from engine import GenerationRequest
from engine.types import MAX_SEED

if TYPE_CHECKING:
    from bot.runtime import Runtime


class RequestMaker:
    def __init__(self, runtime: Runtime, catalogue: Catalogue, wildcards: Wildcards) -> None:
        self.runtime = runtime
        self.catalogue = catalogue
        self.wildcards = wildcards

    def request(
        self,
        common: GenerationRequest,
        draft: Draft,
        params: InlineParams,
        options: dict[str, Any],
        defaults: Preferences,
    ) -> tuple[str | None, GenerationRequest]:
        """One permutation's provider and request (``params`` without those the options
        override)."""
        runtime = self.runtime
        provider, model_name = self.catalogue.resolve(
            options["model"] or params.model or defaults.model
        )
        negative = options["negative"]
        if negative is None:  # the defaults apply where the model takes a negative prompt
            negative = runtime.providers.default_negative(
                provider,
                model_name,
                defaults.negative_prompt or runtime.settings.defaults.negative_prompt,
            )
        request = common.replace(
            prompt=draft.prompt,
            model=model_name,
            negative_prompt=merged_negative(negative, params.no),
            steps=_either(options["steps"], params.steps),
            guidance=_either(options["guidance"], params.guidance),
            sampler=_either(options["sampler"], params.sampler),
            seed=_either(options["seed"], params.seed),
            tile=params.tile,
            chaos=params.chaos or 0,
        )
        aspect = options["aspect"]
        if aspect is not None and aspect not in ASPECTS:
            raise InvalidOption(
                "aspect", aspect, lazy_t("pick one of {names}", names=", ".join(ASPECTS))
            )
        sized = self.sized(
            request,
            provider,
            aspect or params.aspect,
            options["width"],
            options["height"],
            defaults,
        )
        return provider, sized

    async def with_seed(
        self, request: GenerationRequest, seed: int | None, provider: str | None
    ) -> GenerationRequest:
        """The request of one job: its seed, and its wildcards picked by that seed."""
        return await wildcarded(self.runtime, self.wildcards, request, seed, provider)

    def sized(
        self,
        request: GenerationRequest,
        provider: str | None,
        aspect: str | None,
        width: int | None,
        height: int | None,
        preferences: Preferences,
    ) -> GenerationRequest:
        """Explicit sizes win; an aspect ratio (the option's, else --ar's) keeps the model's
        usual pixel count; then the member's defaults; else the provider decides."""
        if width is None and height is None and aspect is None:
            width, height = preferences.width, preferences.height
        if aspect is not None and (width is None or height is None):
            entry = self.runtime.providers.get(provider)
            usual = entry.provider.prepare(GenerationRequest("size", model=request.model)).size
            step = self.catalogue.model_info(provider, request.model).size_multiple
            across, down = (int(part) for part in aspect.split(":"))
            if width is not None:
                height = max(64, round(width * down / across / step) * step)
            elif height is not None:
                width = max(64, round(height * across / down / step) * step)
            else:
                width, height = aspect_size(aspect, usual[0] * usual[1])
        return request.replace(width=width, height=height)


async def wildcarded(
    runtime: Runtime,
    wildcards: Wildcards,
    request: GenerationRequest,
    seed: int | None,
    provider: str | None,
) -> GenerationRequest:
    """``request`` with ``seed``, and its wildcards picked by that seed (a seed is chosen here
    where wildcards need one and the provider takes seeds)."""
    texts = (request.prompt, request.negative_prompt)
    if not any(wildcards.names(text) for text in texts):
        return request.replace(seed=seed)
    takes_seed = runtime.providers.get(provider).provider.capabilities.seed
    if seed is None:
        seed = secrets.randbelow(MAX_SEED + 1)
    prompt, negative = [await asyncio.to_thread(wildcards.replace, text, seed) for text in texts]
    return request.replace(
        prompt=prompt, negative_prompt=negative, seed=seed if takes_seed else None
    )


def _either(option: Any, inline: Any) -> Any:
    return option if option is not None else inline
