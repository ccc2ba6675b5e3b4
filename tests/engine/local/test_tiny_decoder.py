"""A tiny decoder that cannot be loaded says how to get one, or how to do without."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.local.families.unet import SD
from engine.local.pipelines import ModelLoadError, load_tiny_decoder


def test_a_missing_tiny_decoder_says_how_to_get_one_or_do_without(tmp_path: Path):
    with pytest.raises(ModelLoadError) as caught:
        load_tiny_decoder(str(tmp_path / "taesd.safetensors"), None, SD, str(tmp_path))
    text = str(caught.value)
    assert "Cannot load the tiny decoder" in text
    assert "local TAESD folder" in text
    assert 'decoder = "full"' in text
