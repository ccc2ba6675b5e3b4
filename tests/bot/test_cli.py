from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from bot.storage import latest_version
from tests.cli import run_bot
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
    assert "width = 100 is not allowed: a multiple of 8" in result.stderr
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
