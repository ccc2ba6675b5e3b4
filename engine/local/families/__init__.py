"""Model families of the local engine, one profile each (see ``profile.py``), and how a model
folder is recognised as one of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.local.families.profile import Family, Guidance
from engine.local.families.table import FAMILIES

__all__ = ["FAMILIES", "Family", "Guidance", "UnknownFamily", "by_key", "keys", "recognise"]


class UnknownFamily(ValueError):
    """A model whose pipeline no profile describes."""


def keys() -> list[str]:
    return [family.key for family in FAMILIES]


def by_key(key: str) -> Family:
    for family in FAMILIES:
        if family.key == key:
            return family
    raise UnknownFamily(f"unknown family {key!r}; one of {', '.join(keys())}")


def recognise(folder: Path) -> Family:
    """The family of a diffusers folder, from its model_index.json and its denoiser's config."""
    if not (folder / "model_index.json").is_file():
        raise UnknownFamily(
            f"{folder} has no model_index.json, so it is not a diffusers pipeline folder "
            '(for one checkpoint file, set config = its diffusers folder and family = "...")'
        )
    index = _read(folder / "model_index.json")
    class_name = str(index.get("_class_name", ""))
    denoiser = _read(folder / "transformer" / "config.json") or _read(
        folder / "unet" / "config.json"
    )
    for family in FAMILIES:
        if class_name in family.pipelines and family.matches(index, denoiser):
            return family
    known = ", ".join(f"{family.label} ({family.text2img})" for family in FAMILIES)
    raise UnknownFamily(
        f"{folder} holds a {class_name or 'pipeline without a model_index.json'}, "
        f"which the local engine does not run; it runs {known}"
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
