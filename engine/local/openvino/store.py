"""Converted models on disk: one folder per model and conversion key, where the key covers the
model's files (path, size and modification time of each), its tiny decoder's, the weight
setting and the converter's versions, so a changed file or an upgraded converter converts
again and nothing stale is ever read."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from engine.local.hub import cached
from engine.local.options import ModelSpec

log = logging.getLogger(__name__)

# Bumped when what is written changes (parts, their inputs), so older folders convert again.
FORMAT = 1
PARTS = ("text_encoder", "unet", "vae_decoder", "vae_encoder", "tiny_decoder")
DONE = "conversion.json"


def sources(spec: ModelSpec, cache_dir: str | None) -> list[Path]:
    """The files and folders a model is read from: its folder, cached repo or checkpoint (and
    that checkpoint's config folder), its tiny decoder's, and a UNet file set in its place."""
    roots: list[Path | None] = []
    named = (spec.config, spec.tiny_decoder, spec.transformer)
    for source, kind in ((spec.source, spec.kind), *((name, None) for name in named)):
        if source is None:
            continue
        path = Path(source).expanduser()
        if kind == "repo" or (kind is None and not path.exists()):
            roots.append(cached(source, cache_dir))
        else:
            roots.append(path)
    missing = [str(p) for p in roots if p is None]
    if missing:
        raise FileNotFoundError("a model file is not on disk yet (run `models pull`)")
    return [p for p in roots if p is not None]


def _files(root: Path) -> Iterable[tuple[str, Path]]:
    if root.is_file():
        yield root.name, root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".cache" not in path.parts:
            yield str(path.relative_to(root)), path


def versions(weights: str) -> dict[str, str]:
    """The converter: OpenVINO, NNCF where it compresses, and the diffusers it traces."""
    names = ["openvino", "diffusers"] + (["nncf"] if weights == "int8" else [])
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "none"
    return found


def conversion_key(roots: list[Path], weights: str) -> str:
    """A hash of every source file's path, size and modification time (symlinks followed, as
    in the hub cache), the weight setting and the converter's versions."""
    digest = hashlib.sha256()
    header = {"format": FORMAT, "weights": weights, **versions(weights)}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for index, root in enumerate(roots):
        for name, path in _files(root):
            stat = path.stat()
            digest.update(f"{index}\0{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


@dataclass(frozen=True)
class Store:
    """``<folder>/<model>/<key>/``: each part's IR (``.xml`` and ``.bin``) and, written last,
    ``conversion.json``; a folder without it is a conversion cut short."""

    folder: Path

    def place(self, model: str, key: str) -> Path:
        return self.folder / _safe(model) / key

    def complete(self, model: str, key: str) -> Path | None:
        place = self.place(model, key)
        return place if (place / DONE).is_file() else None

    def begin(self, model: str, key: str) -> Path:
        """An empty folder to convert into, beside the final one."""
        partial = self.place(model, key).with_name(f"{key}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        return partial

    def finish(self, model: str, key: str, partial: Path, about: dict[str, Any]) -> Path:
        """Mark the conversion done, put it in place and remove the model's older ones."""
        (partial / DONE).write_text(json.dumps(about, indent=2))
        place = self.place(model, key)
        shutil.rmtree(place, ignore_errors=True)
        partial.rename(place)
        for old in place.parent.iterdir():
            if old != place:
                log.info("Removing an outdated OpenVINO conversion of %s: %s", model, old)
                shutil.rmtree(old, ignore_errors=True)
        return place


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
