"""What autocomplete offers: every provider's models with what each is and takes, and the LoRAs,
built from the providers and refreshed at most every minute, so an answer never waits on a
disk or a network."""

from __future__ import annotations

import math
import time

from discord.app_commands import Choice

from bot.runtime import Runtime
from cogs.common import clip
from engine import InvalidRequest, Mode
from engine.types import ModelInfo

CHOICES_MAX = 25
CACHE_SECONDS = 60.0


class Catalogue:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._built = -math.inf
        self.models: list[tuple[str, str]] = []  # (provider, model)
        self.info: dict[tuple[str, str], ModelInfo] = {}
        self._loras: dict[tuple[str, str], list[str]] = {}  # (provider, model) -> names

    def refresh(self) -> None:
        if time.monotonic() - self._built < CACHE_SECONDS:
            return
        models: list[tuple[str, str]] = []
        info: dict[tuple[str, str], ModelInfo] = {}
        loras: dict[tuple[str, str], list[str]] = {}
        for entry in self._runtime.providers:
            names = entry.provider.capabilities.models or (entry.provider.default_model,)
            models += [(entry.name, name) for name in names]
            for name in names:
                info[entry.name, name] = entry.provider.model_info(name)
                try:
                    loras[entry.name, name] = entry.provider.lora_names(name)
                except OSError:
                    loras[entry.name, name] = []
        self.models, self.info, self._loras = models, info, loras
        self._built = time.monotonic()

    def choices(self, current: str, mode: Mode | None = None) -> list[Choice[str]]:
        """Models whose name, provider or family holds what was typed, with their family;
        with ``mode``, only those that run it."""
        self.refresh()
        needle = current.lower()
        choices = []
        for provider, model in self.models if mode is None else self.able(mode):
            family = self.info[provider, model].family
            label = f"{model} ({provider}: {family})" if family else f"{model} ({provider})"
            if needle in label.lower():
                choices.append(Choice(name=clip(label, 100), value=f"{provider}:{model}"[:100]))
        return choices[:CHOICES_MAX]

    def able(self, mode: Mode) -> list[tuple[str, str]]:
        """The models (provider, model) that run ``mode``."""
        self.refresh()
        providers = self._runtime.providers
        return [
            (provider, model)
            for provider, model in self.models
            if (entry := providers.find(provider)) is not None
            and mode in entry.provider.capabilities.modes
            and self.info[provider, model].takes(mode)
        ]

    def resolve(self, value: str | None) -> tuple[str | None, str | None]:
        """A model option ("provider:model", or a model name) as (provider, model)."""
        if not value:
            return None, None
        self.refresh()
        provider, _, model = value.partition(":")
        if model and self._runtime.providers.find(provider) is not None:
            return provider, model
        for provider, model in self.models:
            if model == value:
                return provider, model
        raise InvalidRequest("model", value, "pick one of the models /models lists")

    def loras(self, provider: str, model: str) -> list[str]:
        """The LoRAs that may fit this model, as far as its provider can tell."""
        self.refresh()
        return self._loras.get((provider, model), [])

    def model_info(self, provider: str | None, model: str | None) -> ModelInfo:
        """What a model takes; with no model, the provider's default one (the default
        provider's with no provider)."""
        self.refresh()
        entry = self._runtime.providers.get(provider)
        name = model or entry.provider.default_model
        known = self.info.get((entry.name, name))
        return known if known is not None else entry.provider.model_info(name)
