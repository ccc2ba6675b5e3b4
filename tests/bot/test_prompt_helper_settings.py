"""The prompt helper's settings: off by default, a model when on, its key never in the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import settings
from bot.errors import SettingsError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_off_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    loaded = settings.load(environ={})
    assert not loaded.settings.prompt_helper.enabled
    assert loaded.secrets.prompt_helper_key is None


def test_on_it_needs_a_model(tmp_path: Path):
    with pytest.raises(SettingsError, match=r"prompt_helper.*chat model"):
        settings.load(write(tmp_path, "[prompt_helper]\nenabled = true\n"), environ={})


def test_the_base_url_must_be_http(tmp_path: Path):
    path = write(tmp_path, '[prompt_helper]\nbase_url = "localhost:8080"\n')
    with pytest.raises(SettingsError, match=r"prompt_helper\.base_url"):
        settings.load(path, environ={})


def test_a_key_in_the_config_is_refused(tmp_path: Path):
    path = write(tmp_path, '[prompt_helper]\napi_key = "sk-1"\n')
    with pytest.raises(SettingsError, match="PROMPT_HELPER_API_KEY") as caught:
        settings.load(path, environ={})
    assert "sk-1" not in str(caught.value)
    with pytest.raises(SettingsError, match="looks like a secret"):
        settings.load(environ={"IMAGEBOT__PROMPT_HELPER__API_KEY": "sk-1"})


def test_the_key_comes_from_its_variable_or_the_secrets_file(tmp_path: Path):
    config = write(tmp_path, '[prompt_helper]\napi_key_env = "MY_LLM_KEY"\n')
    loaded = settings.load(config, environ={"MY_LLM_KEY": "sk-env"})
    assert loaded.secrets.prompt_helper_key is not None
    assert loaded.secrets.prompt_helper_key.get_secret_value() == "sk-env"
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[prompt_helper]\napi_key = "sk-file"\n', encoding="utf-8")
    loaded = settings.load(config, secrets, environ={})
    assert loaded.secrets.prompt_helper_key is not None
    assert loaded.secrets.prompt_helper_key.get_secret_value() == "sk-file"
    assert "sk-file" not in repr(loaded.secrets)
