from __future__ import annotations

import pytest

from engine import ProviderConfigError, registry
from engine.registry import ProviderConfig, build_provider, known_kinds


def test_every_documented_kind_is_built_in():
    assert known_kinds() == [
        "a1111",
        "apiframe",
        "comfyui",
        "demo",
        "horde",
        "local",
        "openai",
        "sdapi",
        "swarmui",
        "visioncraft",
    ]


def test_a_missing_local_engine_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(registry.BUILTIN_KINDS, "local", "engine.not_installed:create")
    with pytest.raises(ProviderConfigError, match=r"pip install '\.\[local\]'"):
        build_provider("local", ProviderConfig("local"))


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("crazyhorse.generations", "a built-in kind"),
        ("tests.fakes.providers:nothing_here", "an importable factory"),
        ("tests.fakes.nowhere:factory", "a kind whose code imports"),
        ("tests.fakes.providers:FAILURES", "a callable"),
    ],
)
def test_unknown_kinds_and_bad_factories_are_named(kind: str, words: str):
    with pytest.raises(ProviderConfigError, match=words) as caught:
        build_provider(kind, ProviderConfig("x"))
    assert caught.value.key == "kind"


def test_crazyhorse_is_refused_with_the_reason():
    with pytest.raises(ProviderConfigError) as caught:
        build_provider("crazyhorse", ProviderConfig("x", {"base_url": "https://api.example"}))
    assert caught.value.key == "kind"
    for words in ("deliberately not supported", "photo of a person", "consent"):
        assert words in caught.value.allowed
