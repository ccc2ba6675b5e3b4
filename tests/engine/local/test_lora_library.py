"""A LoRA is looked up by name among lora_dir's own entries; no name reaches outside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import GenerationRequest, InvalidRequest, LoraRef
from engine.local import LocalProvider
from engine.local.loras import DIFFUSERS_FILE, LoraLibrary
from engine.registry import ProviderConfig, build_provider


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """lora_dir holds ``ink.safetensors`` and ``wash/``; beside it lie files a member must
    not reach: a diffusers LoRA file in its parent and ``secret.safetensors``."""
    loras = tmp_path / "loras"
    (loras / "wash").mkdir(parents=True)
    (loras / "ink.safetensors").write_bytes(b"ink")
    (loras / "wash" / DIFFUSERS_FILE).write_bytes(b"wash")
    (tmp_path / DIFFUSERS_FILE).write_bytes(b"outside")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / DIFFUSERS_FILE).write_bytes(b"outside")
    (tmp_path / "secret.safetensors").write_bytes(b"outside")
    return loras


def test_installed_names_resolve_inside_the_folder(folder: Path):
    library = LoraLibrary(folder)
    assert library.names() == ["ink", "wash"]
    assert library.path("ink") == folder / "ink.safetensors"
    assert library.path("wash") == folder / "wash" / DIFFUSERS_FILE


@pytest.mark.parametrize(
    "name", ["..", "../secret", "../elsewhere", ".", "", "wash/..", "/tmp/x", "INK", "ink "]
)
def test_a_name_that_is_not_installed_never_resolves(folder: Path, name: str):
    with pytest.raises(InvalidRequest, match="installed LoRA"):
        LoraLibrary(folder).path(name)


def test_the_local_engine_refuses_a_lora_outside_its_folder(folder: Path, tmp_path: Path):
    options = {
        "device": "cpu",
        "lora_dir": str(folder),
        "models": {"tiny": {"source": str(tmp_path / "model")}},
    }
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    with pytest.raises(InvalidRequest, match="installed LoRA"):
        provider.prepare(GenerationRequest("a harbour", loras=(LoraRef(".."),)))
