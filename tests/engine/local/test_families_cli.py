"""``python -m bot generate`` with each family's tiny pipeline: the console entry (``bot.cli.main``,
what ``python -m bot`` runs) writes real images, with the settings' default negative prompt
where the model takes one and without it where it takes none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from engine.local.families import by_key
from tests.engine.local.family_models import FAMILY_KEYS, SMALL, FamilyModels

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.timeout(300)]

DEFAULT_NEGATIVE = "blurry, low quality"


def config(tmp_path: Path, folder: Path, key: str) -> Path:
    settings = "".join(f"{name} = {value}\n" for name, value in SMALL.items())
    path = tmp_path / "config.toml"
    path.write_text(
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        f"[defaults]\nnegative_prompt = '{DEFAULT_NEGATIVE}'\n"
        f"[providers.local]\nkind = 'local'\ndevice = 'cpu'\n"
        f"[providers.local.models.{key}]\nsource = '{folder}'\n{settings}",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("key", FAMILY_KEYS)
def test_generate_writes_images_with_each_family(
    tmp_path: Path, family_models: FamilyModels, key: str, capsys: pytest.CaptureFixture[str]
):
    settings = config(tmp_path, family_models.folder(key), key)
    out = tmp_path / "out"
    arguments = ["--config", str(settings), "generate", "a lighthouse", "--out", str(out)]
    code = main([*arguments, "--seed", "5", "--count", "2"])
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]
    written = re.findall(r"wrote (\S+) \(seed (\d+), 64x64\)", printed.out)
    assert [seed for _, seed in written] == ["5", "6"]
    with Image.open(written[0][0]) as image:
        parameters = image.info["parameters"]
        assert len(image.getcolors(maxcolors=1 << 16) or []) > 50  # a picture, not a flat colour
    assert f"Model: {key}" in parameters
    takes_negative = by_key(key).negative_prompt
    assert (f"Negative prompt: {DEFAULT_NEGATIVE}" in parameters) is takes_negative


def test_generate_refuses_a_typed_negative_prompt_on_a_model_that_takes_none(
    tmp_path: Path, family_models: FamilyModels, capsys: pytest.CaptureFixture[str]
):
    settings = config(tmp_path, family_models.folder("flux1-schnell"), "flux1-schnell")
    arguments = ["--config", str(settings), "generate", "x", "--out", str(tmp_path / "out")]
    assert main([*arguments, "--negative", "fog"]) == 2
    refusal = capsys.readouterr().err
    assert "--negative" in refusal and "flux1-schnell (FLUX.1 [schnell])" in refusal
    assert "Traceback" not in refusal
