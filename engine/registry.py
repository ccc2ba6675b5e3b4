"""Builds providers from their settings: built-in kinds by name, or a factory by import path."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ProviderConfigError
from engine.provider import Provider
from engine.redact import register_secret


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One provider's settings as the engine sees them: its kind-specific options and key."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    api_key: str | None = field(default=None, repr=False)
    data_dir: Path | None = None  # the bot's data folder, for files a provider keeps


ProviderFactory = Callable[[ProviderConfig], Provider]

# kind -> "module:attribute". Adapters register here as they are written.
BUILTIN_KINDS: dict[str, str] = {
    "demo": "engine.demo:create",
    "local": "engine.local:create",
    "sdapi": "engine.remote.sdapi:create",
    "openai": "engine.remote.openai_compatible:create",
    "a1111": "engine.remote.a1111:create",
    "visioncraft": "engine.remote.visioncraft:create",
    "apiframe": "engine.remote.apiframe:create",
    "swarmui": "engine.remote.swarmui:create",
    "horde": "engine.remote.horde:create",
    "comfyui": "engine.remote.comfyui:create",
}


# APIs left out on purpose, with the reason an owner who configures one reads at start.
REFUSED_KINDS: dict[str, str] = {
    "crazyhorse": (
        "the crazyhorse API is deliberately not supported: it takes a photo of a person and "
        "sets their body, chest, pose and clothes, and the bot cannot know that the person in "
        "the photo agreed, so it would make sexualised images of real people without their "
        "consent (see the README)"
    ),
}


def known_kinds() -> list[str]:
    return sorted(BUILTIN_KINDS)


def resolve_factory(kind: str) -> ProviderFactory:
    """A built-in kind, or ``package.module:factory`` for a provider of the owner's own."""
    if kind in REFUSED_KINDS:
        raise ProviderConfigError("kind", kind, REFUSED_KINDS[kind])
    target = BUILTIN_KINDS.get(kind, kind)
    module_name, _, attribute = target.partition(":")
    if not attribute:
        allowed = ", ".join(known_kinds()) or "no built-in kinds yet"
        raise ProviderConfigError(
            "kind", kind, f"a built-in kind ({allowed}) or 'package.module:factory'"
        )
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, attribute)
    except ImportError as err:
        hint = " (the local engine needs: pip install '.[local]')" if kind == "local" else ""
        raise ProviderConfigError("kind", kind, f"a kind whose code imports: {err}{hint}") from err
    except AttributeError as err:
        raise ProviderConfigError("kind", kind, f"an importable factory ({err})") from err
    if not callable(factory):
        raise ProviderConfigError("kind", kind, "a callable that takes a ProviderConfig")
    return factory  # type: ignore[no-any-return]


def build_provider(kind: str, config: ProviderConfig) -> Provider:
    register_secret(config.api_key)
    provider = resolve_factory(kind)(config)
    if not isinstance(provider, Provider):
        raise ProviderConfigError("kind", kind, "a factory that returns an engine Provider")
    return provider
