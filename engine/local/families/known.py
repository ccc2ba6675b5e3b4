"""The hub models an owner is most likely to name, with their family and licence, so /models
and the README can say both before a byte is downloaded. Any other repo is recognised from its
model_index.json once cached (or by ``family = "..."`` in its settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Known:
    family: str
    licence: str
    commercial: bool


STABILITY = "Stability AI Community License"
APACHE = "Apache-2.0"

KNOWN: dict[str, Known] = {
    "stabilityai/sd-turbo": Known("sd", STABILITY, True),
    "stabilityai/sdxl-turbo": Known("sdxl", STABILITY, True),
    "stable-diffusion-v1-5/stable-diffusion-v1-5": Known("sd", "CreativeML OpenRAIL-M", True),
    "stabilityai/stable-diffusion-2-1": Known("sd", "CreativeML OpenRAIL++-M", True),
    "stabilityai/stable-diffusion-xl-base-1.0": Known("sdxl", "CreativeML OpenRAIL++-M", True),
    "stable-diffusion-v1-5/stable-diffusion-inpainting": Known(
        "sd-inpaint", "CreativeML OpenRAIL-M", True
    ),
    "stabilityai/stable-diffusion-2-inpainting": Known(
        "sd-inpaint", "CreativeML OpenRAIL++-M", True
    ),
    "diffusers/stable-diffusion-xl-1.0-inpainting-0.1": Known(
        "sdxl-inpaint", "CreativeML OpenRAIL++-M", True
    ),
    "stabilityai/stable-diffusion-3.5-large": Known("sd3", STABILITY, True),
    "stabilityai/stable-diffusion-3.5-large-turbo": Known("sd3", STABILITY, True),
    "stabilityai/stable-diffusion-3.5-medium": Known("sd3", STABILITY, True),
    "black-forest-labs/FLUX.1-schnell": Known("flux1-schnell", APACHE, True),
    "black-forest-labs/FLUX.1-dev": Known("flux1", "FLUX.1 [dev] Non-Commercial License", False),
    "black-forest-labs/FLUX.1-Krea-dev": Known(
        "flux1", "FLUX.1 [dev] Non-Commercial License", False
    ),
    "black-forest-labs/FLUX.1-Kontext-dev": Known(
        "flux1-kontext", "FLUX.1 [dev] Non-Commercial License", False
    ),
    "black-forest-labs/FLUX.1-Fill-dev": Known(
        "flux1-fill", "FLUX.1 [dev] Non-Commercial License", False
    ),
    "black-forest-labs/FLUX.2-klein-4B": Known("flux2-klein", APACHE, True),
    "black-forest-labs/FLUX.2-klein-9B": Known("flux2-klein", "FLUX Non-Commercial License", False),
    "black-forest-labs/FLUX.2-klein-base-4B": Known("flux2-klein-base", APACHE, True),
    "black-forest-labs/FLUX.2-klein-base-9B": Known(
        "flux2-klein-base", "FLUX Non-Commercial License", False
    ),
    "Qwen/Qwen-Image": Known("qwen-image", APACHE, True),
    "Tongyi-MAI/Z-Image-Turbo": Known("z-image", APACHE, True),
    "lodestones/Chroma1-HD": Known("chroma", APACHE, True),
    "Efficient-Large-Model/Sana_1600M_1024px_diffusers": Known(
        "sana", "NVIDIA license (non-commercial; see the model card)", False
    ),
    "Efficient-Large-Model/Sana_Sprint_1.6B_1024px_diffusers": Known(
        "sana-sprint", "NVIDIA license (non-commercial; see the model card)", False
    ),
}
