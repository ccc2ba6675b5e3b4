from __future__ import annotations

from pathlib import Path

import pytest

from bot import settings
from bot.errors import SettingsError
from bot.providers import Providers
from tests.conftest import FAKE_KIND


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_work_without_a_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    loaded = settings.load(environ={})
    assert loaded.source is None
    assert loaded.settings.quota.daily_units == 50
    assert loaded.settings.discord.api_base == "https://discord.com/api/v10"
    assert loaded.secrets.discord_token is None


def test_the_example_config_is_valid_and_documents_every_section():
    example = Path(__file__).parents[2] / "config.example.toml"
    loaded = settings.load(example, environ={})
    text = example.read_text()
    for section, model in settings.Settings.model_fields.items():
        if section == "log_level":
            continue
        assert f"[{section}" in text, section
        annotation = model.annotation
        if isinstance(annotation, type) and issubclass(annotation, settings.Section):
            for key in annotation.model_fields:
                assert f"{key} =" in text or f"[{section}.{key}" in text, f"{section}.{key}"
    assert loaded.settings.quota.daily_units == 50


def test_file_then_environment(tmp_path: Path):
    path = write(tmp_path, "[quota]\ndaily_units = 20\n[queue]\nmax_attempts = 2\n")
    loaded = settings.load(
        path, environ={"IMAGEBOT__QUOTA__DAILY_UNITS": "30", "IMAGEBOT_CONFIG": "ignored"}
    )
    assert loaded.settings.quota.daily_units == 30
    assert loaded.settings.queue.max_attempts == 2
    assert loaded.source == path


def test_config_path_from_the_environment(tmp_path: Path):
    path = write(tmp_path, "log_level = 'DEBUG'\n")
    assert settings.load(environ={"IMAGEBOT_CONFIG": str(path)}).settings.log_level == "DEBUG"


def test_a_bad_value_names_key_value_and_rule(tmp_path: Path):
    path = write(tmp_path, "[queue]\nmax_queued_per_user = -3\n")
    with pytest.raises(SettingsError) as caught:
        settings.load(path, environ={})
    message = str(caught.value)
    assert "queue.max_queued_per_user = -3" in message
    assert "greater than or equal to 1" in message
    assert str(path) in message


def test_a_bad_environment_value_names_the_variable(tmp_path: Path):
    with pytest.raises(SettingsError, match="IMAGEBOT__DISCORD__API_BASE") as caught:
        settings.load(environ={"IMAGEBOT__DISCORD__API_BASE": "discord.com"})
    assert "absolute http(s)" in str(caught.value)


def test_an_unknown_key_is_refused(tmp_path: Path):
    path = write(tmp_path, "[quota]\ndaily_unit = 5\n")
    with pytest.raises(SettingsError, match=r"quota.daily_unit: unknown setting"):
        settings.load(path, environ={})


def test_a_missing_file_and_bad_toml_are_reported(tmp_path: Path):
    with pytest.raises(SettingsError, match="does not exist"):
        settings.load(tmp_path / "nope.toml", environ={})
    with pytest.raises(SettingsError, match="not valid TOML"):
        settings.load(write(tmp_path, "[quota\n"), environ={})


def test_secrets_in_the_config_file_are_refused(tmp_path: Path):
    with pytest.raises(SettingsError, match="DISCORD_TOKEN"):
        settings.load(write(tmp_path, "[discord]\ntoken = 'abc'\n"), environ={})
    text = f"[providers.art]\nkind = '{FAKE_KIND}'\napi_key = 'k'\n"
    with pytest.raises(SettingsError, match="ART_API_KEY"):
        settings.load(write(tmp_path, text), environ={})
    with pytest.raises(SettingsError, match="looks like a secret"):
        settings.load(environ={"IMAGEBOT__DISCORD__TOKEN": "abc"})


def test_secrets_come_from_environment_or_secrets_file(tmp_path: Path):
    config = write(
        tmp_path,
        f"[providers.art]\nkind = '{FAKE_KIND}'\n"
        f"[providers.other]\nkind = '{FAKE_KIND}'\napi_key_env = 'MY_KEY'\n",
    )
    secrets_file = write(
        tmp_path,
        "discord_token = 'from-file'\n[providers.art]\napi_key = 'art-from-file'\n",
        "secrets.toml",
    )
    loaded = settings.load(config, secrets_file, environ={"MY_KEY": "other-key"})
    assert loaded.secrets.discord_token is not None
    assert loaded.secrets.discord_token.get_secret_value() == "from-file"
    assert loaded.secrets.provider_keys["art"].get_secret_value() == "art-from-file"
    assert loaded.secrets.provider_keys["other"].get_secret_value() == "other-key"
    assert "from-file" not in repr(loaded.secrets)
    env = {"DISCORD_TOKEN": "from-env", "IMAGEBOT_SECRETS_FILE": str(secrets_file)}
    token = settings.load(config, environ=env).secrets.discord_token
    assert token is not None and token.get_secret_value() == "from-env"


def test_provider_names_are_checked(tmp_path: Path):
    with pytest.raises(SettingsError, match="provider name 'Big Model'"):
        settings.load(
            write(tmp_path, f"[providers.'Big Model']\nkind = '{FAKE_KIND}'\n"), environ={}
        )


def test_provider_options_are_checked_when_built(tmp_path: Path):
    loaded = settings.load(
        write(tmp_path, f"[providers.art]\nkind = '{FAKE_KIND}'\nfail = 'sometimes'\n"), environ={}
    )
    with pytest.raises(SettingsError, match=r"providers.art.fail = 'sometimes' is not allowed"):
        Providers.build(loaded.settings, loaded.secrets)


def test_unknown_provider_kind_and_default(tmp_path: Path):
    loaded = settings.load(write(tmp_path, "[providers.art]\nkind = 'magic'\n"), environ={})
    with pytest.raises(SettingsError, match=r"providers.art.kind = 'magic'"):
        Providers.build(loaded.settings, loaded.secrets)
    text = f"[defaults]\nprovider = 'nope'\n[providers.art]\nkind = '{FAKE_KIND}'\n"
    loaded = settings.load(write(tmp_path, text), environ={})
    with pytest.raises(SettingsError, match=r"defaults.provider = 'nope'.*\(art\)"):
        Providers.build(loaded.settings, loaded.secrets)
