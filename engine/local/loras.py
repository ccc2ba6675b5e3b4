"""LoRAs from a folder: ``name.safetensors`` files (kohya or diffusers keys) or diffusers
folders holding ``pytorch_lora_weights.safetensors``."""

from __future__ import annotations

import difflib
from pathlib import Path

from engine.errors import InvalidRequest
from engine.loras import is_lora_name

DIFFUSERS_FILE = "pytorch_lora_weights.safetensors"


class LoraLibrary:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def names(self) -> list[str]:
        return sorted(self.files())

    def files(self) -> dict[str, Path]:
        """Each LoRA in the folder by name; a single file wins over a folder of that name."""
        if self.folder is None or not self.folder.is_dir():
            return {}
        found = {path.parent.name: path for path in self.folder.glob(f"*/{DIFFUSERS_FILE}")}
        found |= {path.stem: path for path in self.folder.glob("*.safetensors") if path.is_file()}
        return {name: path for name, path in found.items() if is_lora_name(name)}

    def path(self, name: str) -> Path:
        """The file to load for ``name``. A name is looked up among the folder's own entries,
        never joined to the folder as a path, so no name reaches outside it (``..``, ``a/b``,
        another case of an installed name on a case-blind disk). Unknown names list the
        closest ones."""
        found = self.files().get(name)
        if found is not None:
            return found
        names = self.names()
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        if close:
            allowed = "an installed LoRA; did you mean " + ", ".join(close) + "?"
        elif names:
            allowed = "an installed LoRA: " + ", ".join(names[:20])
        else:
            allowed = "an installed LoRA, and none are installed"
        raise InvalidRequest("lora", name, allowed)
