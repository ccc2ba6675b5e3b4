"""ComfyUI (Comfy-Org/ComfyUI): the owner's exported API-format workflows as models."""

from engine.registry import ProviderConfig
from engine.remote.comfyui.provider import ComfyUIProvider


def create(config: ProviderConfig) -> ComfyUIProvider:
    return ComfyUIProvider(config)


__all__ = ["ComfyUIProvider", "create"]
