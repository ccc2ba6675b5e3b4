"""Every family's tiny pipeline on disk, built on first use, and local engine settings that
point at them: one model per family key, named after it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from engine.local.families import by_key
from tests.engine.local import tiny
from tests.engine.local.families import tiny_decoder
from tests.engine.local.families.chroma import build_chroma
from tests.engine.local.families.flux1 import build_flux1
from tests.engine.local.families.flux1_edit import build_fill, build_kontext
from tests.engine.local.families.flux2_klein import build_flux2_klein
from tests.engine.local.families.qwen_image import build_qwen_image
from tests.engine.local.families.sana import build_sana, build_sana_sprint
from tests.engine.local.families.sd3 import build_sd3
from tests.engine.local.families.z_image import build_z_image
from tests.engine.local.tiny_inpaint import build_sd_inpaint, build_sdxl_inpaint

BUILDERS: dict[str, Callable[[Path], Path]] = {
    "sd": tiny.build_sd,
    "sdxl": tiny.build_sdxl,
    "sd-inpaint": build_sd_inpaint,
    "sdxl-inpaint": build_sdxl_inpaint,
    "sd3": build_sd3,
    "flux1": build_flux1,
    "flux1-schnell": partial(build_flux1, schnell=True),
    "flux1-kontext": build_kontext,
    "flux1-fill": build_fill,
    "chroma": build_chroma,
    "qwen-image": build_qwen_image,
    "z-image": build_z_image,
    "flux2-klein": build_flux2_klein,
    "flux2-klein-base": partial(build_flux2_klein, distilled=False),
    "sana": build_sana,
    "sana-sprint": build_sana_sprint,
}
FAMILY_KEYS = tuple(BUILDERS)
# The settings the tiny models need: small and short; everything else is the family's.
SMALL = {"width": 64, "height": 64, "steps": 2}


class FamilyModels:
    """Tiny pipelines under ``root``, each built once however many tests ask for it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, key: str) -> Path:
        folder = self.root / key
        if not (folder / "model_index.json").is_file():
            BUILDERS[key](folder)
        return folder

    def tiny_decoder(self, key: str) -> Path:
        """An ``AutoencoderTiny`` fitted to the family's tiny VAE: its channels, its scale,
        its scaling and shift (as TAESD3 and TAEF1 carry theirs); SDXL's has "xl" in its
        name, as the engine's check of a UNet family's decoder reads it."""
        folder = self.root / f"taesd-{key}"
        if folder.is_dir():
            return folder
        if by_key(key).unet:
            xl = "xl" in (by_key(key).tiny_decoder or "")
            folder = self.root / ("taesdxl" if xl else "taesd")
            return folder if folder.is_dir() else tiny.build_tiny_decoder(folder)
        vae = json.loads((self.folder(key) / "vae" / "config.json").read_text())
        return tiny_decoder.build_tiny_decoder(
            folder,
            by_key(key).latent_channels,
            vae.get("scaling_factor", 1.0),
            vae.get("shift_factor") or 0.0,
        )

    def options(
        self, keys: Iterable[str], models: dict[str, dict[str, Any]] | None = None, **options: Any
    ) -> dict[str, Any]:
        """Local engine options with one small model per family key (named after it); an
        entry of ``models`` adds a small model or overrides settings of one."""
        keys = list(keys)
        specs = {key: {"source": str(self.folder(key)), **SMALL} for key in keys}
        for name, extra in (models or {}).items():
            specs[name] = {**SMALL, **specs.get(name, {}), **extra}
        return {
            "device": "cpu",
            "models": specs,
            "max_loaded_models": len(specs),
            **options,
        }
