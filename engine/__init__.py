"""Image generation behind one interface: request types, providers, errors, the registry."""

from engine.errors import (
    EngineError,
    GenerationCancelled,
    InvalidRequest,
    ProviderConfigError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from engine.provider import CancelToken, Progress, ProgressCallback, Provider
from engine.types import (
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    LoraRef,
    Mode,
)

__all__ = [
    "CancelToken",
    "Capabilities",
    "EngineError",
    "GeneratedImage",
    "GenerationCancelled",
    "GenerationRequest",
    "GenerationResult",
    "InvalidRequest",
    "LoraRef",
    "Mode",
    "Progress",
    "ProgressCallback",
    "Provider",
    "ProviderConfigError",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
]
