"""LoRAs from a folder: ``name.safetensors`` files (kohya or diffusers keys) or diffusers
folders holding ``pytorch_lora_weights.safetensors``."""

from __future__ import annotations

import difflib
from pathlib import Path

from engine.errors import InvalidRequest

DIFFUSERS_FILE = "pytorch_lora_weights.safetensors"


class LoraLibrary:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def names(self) -> list[str]:
        if self.folder is None or not self.folder.is_dir():
            return []
        found = {path.stem for path in self.folder.glob("*.safetensors")}
        found |= {path.parent.name for path in self.folder.glob(f"*/{DIFFUSERS_FILE}")}
        return sorted(found)

    def path(self, name: str) -> Path:
        """The file to load for ``name``; unknown names list the closest ones."""
        if self.folder is not None:
            for candidate in (
                self.folder / f"{name}.safetensors",
                self.folder / name / DIFFUSERS_FILE,
            ):
                if "/" not in name and candidate.is_file():
                    return candidate
        names = self.names()
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        if close:
            allowed = "an installed LoRA; did you mean " + ", ".join(close) + "?"
        elif names:
            allowed = "an installed LoRA: " + ", ".join(names[:20])
        else:
            allowed = "an installed LoRA, and none are installed"
        raise InvalidRequest("lora", name, allowed)
