"""The local diffusers engine (SD 1.x/2.x, SDXL and their turbo variants) behind the provider
interface. Its provider imports torch and diffusers, so it is imported on first use: `models
list` and `models pull` read the options and the hub cache without it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.registry import ProviderConfig

if TYPE_CHECKING:
    from engine.local.provider import LocalProvider


def create(config: ProviderConfig) -> LocalProvider:
    from engine.local.provider import LocalProvider  # noqa: PLC0415 (torch on first use)

    return LocalProvider(config)


def __getattr__(name: str) -> Any:
    if name == "LocalProvider":
        from engine.local.provider import LocalProvider  # noqa: PLC0415

        return LocalProvider
    raise AttributeError(name)


__all__ = ["LocalProvider", "create"]
