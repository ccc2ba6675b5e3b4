"""The families the local engine knows, most specific first: a model is the first profile
whose pipeline class and configs match."""

from __future__ import annotations

from engine.local.families.dit import QWEN_IMAGE, SANA, SANA_SPRINT, SD3, Z_IMAGE
from engine.local.families.flux import (
    CHROMA,
    FLUX1,
    FLUX1_FILL,
    FLUX1_KONTEXT,
    FLUX1_SCHNELL,
    FLUX2_KLEIN,
    FLUX2_KLEIN_BASE,
)
from engine.local.families.profile import Family
from engine.local.families.unet import SD, SD_INPAINT, SDXL, SDXL_INPAINT

FAMILIES: tuple[Family, ...] = (
    SD_INPAINT,
    SD,
    SDXL_INPAINT,
    SDXL,
    SD3,
    FLUX1_SCHNELL,
    FLUX1,
    FLUX1_KONTEXT,
    FLUX1_FILL,
    CHROMA,
    QWEN_IMAGE,
    Z_IMAGE,
    FLUX2_KLEIN,
    FLUX2_KLEIN_BASE,
    SANA,
    SANA_SPRINT,
)
