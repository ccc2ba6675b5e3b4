from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.cli_args import parser
from bot.storage import latest_version
from tests.cli import bot_environment, run_bot
from tests.conftest import FAKE_KIND
from tests.fakes.providers import colour_of


def config_for(tmp_path: Path, extra: str = "") -> str:
    return (
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        f"[providers.fake]\nkind = '{FAKE_KIND}'\n{extra}"
    )


def test_generate_runs_a_job_end_to_end_and_reports_paths_and_seeds(tmp_path: Path):
    out = tmp_path / "out"
    result = run_bot(
        tmp_path,
        "generate",
        "a red fox",
        "--out",
        str(out),
        "--seed",
        "41",
        "--count",
        "2",
        "--width",
        "96",
        "--height",
        "64",
        "--sampler",
        "Euler a",
        config=config_for(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    written = re.findall(r"wrote (\S+) \(seed (\d+), 96x64\)", result.stdout)
    assert [int(seed) for _, seed in written] == [41, 42]
    for path, seed in written:
        with Image.open(path) as image:
            assert image.size == (96, 64)
            assert image.getpixel((0, 0)) == colour_of(int(seed))
            parameters = image.info["parameters"]
            assert parameters.startswith("a red fox\n")
            assert f"Seed: {seed}" in parameters and "Sampler: Euler a" in parameters
    assert "seeds 41, 42" in result.stderr
    assert re.search(r"^\d+\.\d s in all, \d+\.\d s per image$", result.stdout, re.M)


def test_generate_charges_the_console_quota_and_refuses_clearly(tmp_path: Path):
    config = config_for(tmp_path) + "[quota]\ndaily_units = 1\n"
    out = str(tmp_path / "out")
    assert run_bot(tmp_path, "generate", "one", "--out", out, config=config).returncode == 0
    refused = run_bot(tmp_path, "generate", "two", "--out", out, config=config)
    assert refused.returncode == 1
    assert "you have 0 of 1 left" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_generate_refuses_a_bad_option_by_name(tmp_path: Path):
    result = run_bot(
        tmp_path, "generate", "x", "--out", "o", "--width", "100", config=config_for(tmp_path)
    )
    assert result.returncode == 2
    assert "--width can't be 100: use a multiple of 8" in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_reports_a_failed_job(tmp_path: Path):
    config = config_for(tmp_path, "fail = 'broken'\n")
    result = run_bot(tmp_path, "generate", "x", "--out", "o", config=config)
    assert result.returncode == 1
    assert "failed: The fake provider rejected it." in result.stderr


def test_generate_with_the_default_model_offline_explains_the_download(tmp_path: Path):
    result = run_bot(
        tmp_path,
        "generate",
        "x",
        "--out",
        "o",
        config="",
        HF_HUB_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
    )
    assert result.returncode == 2
    assert (
        "Cannot load model sd-turbo: stabilityai/sd-turbo is not in the local cache"
        in result.stderr
    )
    assert "python -m bot models pull" in result.stderr
    assert "Traceback" not in result.stderr


def test_starting_without_a_token_explains_what_to_do(tmp_path: Path):
    result = run_bot(tmp_path)
    assert result.returncode == 2
    for words in (
        "DISCORD_TOKEN",
        "developers/applications",
        "privileged",
        "Attach Files",
        "bot applications.commands",
    ):
        assert words in result.stderr
    with_app = run_bot(tmp_path, config="[discord]\napplication_id = 1234\n")
    assert "client_id=1234" in with_app.stdout
    assert "scope=bot+applications.commands" in with_app.stdout


def test_a_bad_setting_stops_start_up_with_one_message(tmp_path: Path):
    result = run_bot(tmp_path, config="[quota]\ndaily_units = 'lots'\n", DISCORD_TOKEN="x")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("Invalid setting: quota.daily_units = 'lots'")
    assert "Traceback" not in result.stderr


def test_migrate_reports_the_schema_version(tmp_path: Path):
    result = run_bot(tmp_path, "migrate", config=config_for(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"schema version {latest_version()}" in result.stdout


def test_generate_refuses_an_out_folder_it_cannot_create(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_bot(
        tmp_path, "generate", "x", "--out", str(blocker / "sub"), config=config_for(tmp_path)
    )
    assert result.returncode == 2
    assert "--out" in result.stderr and "Traceback" not in result.stderr


def test_a_database_path_that_cannot_be_created_is_one_message(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = f"[storage]\ndata_dir = '{blocker / 'data'}'\n"
    result = run_bot(tmp_path, "migrate", config=config)
    assert result.returncode == 2
    assert "Cannot create the folder for the database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("option", "refusal"),
    [
        ("--width", "--width can't be 0: use 64 to 2048 pixels"),
        ("--height", "--height can't be 0: use 64 to 2048 pixels"),
        ("--count", "--count can't be 0: use 1 to 4"),
        ("--steps", "--steps can't be 0: use 1 to 100"),
    ],
)
def test_generate_refuses_a_zero_instead_of_ignoring_it(tmp_path: Path, option: str, refusal: str):
    out = tmp_path / "out"
    result = run_bot(
        tmp_path, "generate", "x", "--out", str(out), option, "0", config=config_for(tmp_path)
    )
    assert result.returncode == 2
    assert refusal in result.stderr
    assert not out.exists()


def test_generate_with_an_image_and_no_strength_uses_the_imagine_default(tmp_path: Path):
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 64), "blue").save(source)
    result = run_bot(
        tmp_path,
        "generate",
        "a fox",
        "--out",
        str(tmp_path / "out"),
        "--image",
        str(source),
        config=config_for(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    (path,) = re.findall(r"wrote (\S+) ", result.stdout)
    with Image.open(path) as image:
        assert "Denoising strength: 0.6" in image.info["parameters"]


def test_generate_refuses_a_strength_without_an_image(tmp_path: Path):
    result = run_bot(
        tmp_path, "generate", "x", "--out", "o", "--strength", "0.5", config=config_for(tmp_path)
    )
    assert result.returncode == 2
    assert "--strength is only for img2img: give --image too" in result.stderr


@pytest.mark.parametrize(
    ("content", "refusal"),
    [
        (b"not an image at all", "is not a PNG, JPEG or WebP image"),
        (b"\x89PNG\r\n\x1a\n cut short", "is not a PNG, JPEG or WebP image"),
    ],
)
def test_generate_names_a_bad_image_by_its_path(tmp_path: Path, content: bytes, refusal: str):
    bad = tmp_path / "holiday.png"
    bad.write_bytes(content)
    result = run_bot(
        tmp_path, "generate", "x", "--out", "o", "--image", str(bad), config=config_for(tmp_path)
    )
    assert result.returncode == 2
    assert f"--image {bad} {refusal}" in result.stderr
    assert "the attachment" not in result.stderr and "Traceback" not in result.stderr


def test_generate_names_options_the_provider_refuses_as_the_console_spells_them(tmp_path: Path):
    result = run_bot(
        tmp_path, "generate", "x", "--out", "o", "--sampler", "nope", config=config_for(tmp_path)
    )
    assert result.returncode == 2
    assert "--sampler can't be nope: " in result.stderr


def test_config_and_secrets_work_after_the_subcommand(tmp_path: Path):
    config = tmp_path / "after.toml"
    config.write_text(config_for(tmp_path), encoding="utf-8")
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("", encoding="utf-8")
    result = run_bot(tmp_path, "migrate", "--config", str(config), "--secrets", str(secrets))
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "data") in result.stdout
    before = run_bot(tmp_path, "--config", str(config), "migrate")
    assert before.returncode == 0, before.stderr


def test_version_prints_the_package_version(tmp_path: Path):
    result = run_bot(tmp_path, "--version")
    assert result.returncode == 0
    assert re.fullmatch(r"python -m bot \d+\.\d+\.\d+\S*\n", result.stdout)


def _subcommands(main: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in main._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_option_of_every_subcommand_has_help():
    main = parser()
    commands = _subcommands(main)
    assert set(commands) >= {"run", "migrate", "backup", "generate", "worker"}
    for name, command in [("python -m bot", main), *commands.items()]:
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


# Runs the CLI in a fresh interpreter and reports whether torch was imported by the end.
TORCH_PROBE = """
import sys
from bot.cli import main
code = main(sys.argv[1:])
print("torch imported" if "torch" in sys.modules else "torch not imported")
sys.exit(code)
"""


@pytest.mark.parametrize(
    "options",
    [
        ("--width", "0"),
        ("--count", "0"),
        ("--strength", "2", "--image", "in.png"),
        ("--image", "missing.png"),
    ],
)
def test_a_refused_option_does_not_import_torch(tmp_path: Path, options: tuple[str, ...]):
    Image.new("RGB", (64, 64)).save(tmp_path / "in.png")
    (tmp_path / "config.toml").write_text(
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n", encoding="utf-8"
    )  # the default local provider, whose engine needs torch
    probe = [sys.executable, "-c", TORCH_PROBE, "--config", "config.toml"]
    result = subprocess.run(
        [*probe, "generate", "x", "--out", "o", *options],
        cwd=tmp_path,
        env=bot_environment(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "can't be" in result.stderr or "--image" in result.stderr
    assert result.stdout.strip().endswith("torch not imported")
