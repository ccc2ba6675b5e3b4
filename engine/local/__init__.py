"""The local diffusers engine (SD 1.x/2.x, SDXL and their turbo variants) behind the provider
interface. Importing it imports torch and diffusers, so only the registry does."""

from engine.local.provider import LocalProvider
from engine.registry import ProviderConfig


def create(config: ProviderConfig) -> LocalProvider:
    return LocalProvider(config)


__all__ = ["LocalProvider", "create"]
