"""The AI Horde provider's settings, its ``Client-Agent`` and the anonymous key."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from engine.remote.base import ImageUrlOptions

# The key the Horde takes from anyone: accepted, and served last (every keyed request first).
ANONYMOUS_KEY = "0000000000"
# Where ``r2: true`` puts the images: Cloudflare R2, presigned links (the AI Horde's r2.py).
R2_HOST = "a223539ccf6caa2d76459c9727d276e6.r2.cloudflarestorage.com"
# The samplers the Horde's API names (KNOWN_SAMPLERS in its consts.py).
SAMPLERS = (
    "k_euler_a",
    "k_euler",
    "k_dpmpp_2m",
    "k_dpmpp_sde",
    "k_dpmpp_2s_a",
    "k_heun",
    "k_lms",
    "k_dpm_2",
    "k_dpm_2_a",
    "k_dpm_fast",
    "k_dpm_adaptive",
    "dpmsolver",
    "DDIM",
    "lcm",
)
_CONTACT = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,199}")


def bot_version() -> str:
    try:
        return version("imagebot")
    except PackageNotFoundError:
        return "0"


class HordeOptions(ImageUrlOptions):
    documented_image_hosts = (R2_HOST,)

    base_url: str = "https://aihorde.net/api"
    # The third part of the Client-Agent header the Horde asks every client to send: a URL or
    # other contact where its admins can reach the bot's owner.
    contact: str = "unknown"
    samplers: tuple[str, ...] = SAMPLERS
    default_model: str | None = None
    trusted_workers: bool = False
    slow_workers: bool = True
    extra_slow_workers: bool = False
    karras: bool = True
    replacement_filter: bool = True
    allow_downgrade: bool = False
    max_size: Annotated[int, Field(ge=64, le=3072, multiple_of=64)] = 1024
    max_steps: Annotated[int, Field(ge=1, le=500)] = 50
    max_images: Annotated[int, Field(ge=1, le=20)] = 4
    max_wait_seconds: Annotated[float, Field(gt=0, le=3600)] = 600.0
    min_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    max_poll_seconds: Annotated[float, Field(gt=0, le=300)] = 15.0
    models_refresh_seconds: Annotated[float, Field(ge=10, le=86400)] = 600.0

    @field_validator("contact")
    @classmethod
    def _contact(cls, text: str) -> str:
        if not _CONTACT.fullmatch(text):
            raise ValueError("a URL or address of up to 200 printable ASCII characters")
        return text

    @field_validator("samplers")
    @classmethod
    def _samplers(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in names if name not in SAMPLERS]
        if unknown:
            raise ValueError(f"samplers the Horde knows ({', '.join(SAMPLERS)}), not {unknown}")
        return names

    @model_validator(mode="after")
    def _bounds(self) -> HordeOptions:
        if self.min_poll_seconds > self.max_poll_seconds:
            raise ValueError("min_poll_seconds must not be more than max_poll_seconds")
        if self.default_model and self.models and self.default_model not in self.models:
            raise ValueError("default_model must be one of models")
        return self

    @property
    def client_agent(self) -> str:
        return f"imagebot:{bot_version()}:{self.contact}"
