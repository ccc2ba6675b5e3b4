"""Image generation behind one interface: request types, providers, errors, the registry."""

from engine.errors import (
    ContentRefused,
    EngineError,
    GenerationCancelled,
    InvalidRequest,
    OutcomeUnknown,
    ProviderAuthError,
    ProviderConfigError,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
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
    "ContentRefused",
    "EngineError",
    "GeneratedImage",
    "GenerationCancelled",
    "GenerationRequest",
    "GenerationResult",
    "InvalidRequest",
    "LoraRef",
    "Mode",
    "OutcomeUnknown",
    "Progress",
    "ProgressCallback",
    "Provider",
    "ProviderAuthError",
    "ProviderConfigError",
    "ProviderError",
    "ProviderRejected",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
]
