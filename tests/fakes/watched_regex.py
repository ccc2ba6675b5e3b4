"""The regex module as the blocked-terms code sees it, recording what it compiles and searches.

How long a regex takes depends on the machine; what bounds it does not: a compile only of
patterns whose counted repeats stay small, a time-out on every search, and the searches of a
moderator's regex made off the event loop. Tests assert those instead of timing the calls.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
import regex

from bot.moderation import terms


@dataclass(frozen=True)
class Search:
    pattern: str
    timeout: float | None
    thread: int


@dataclass
class WatchedRegex:
    compiled: list[str] = field(default_factory=list)
    compiled_on: list[int] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(regex, name)

    def compile(self, pattern: str, flags: int = 0) -> _WatchedPattern:
        self.compiled.append(pattern)
        self.compiled_on.append(threading.get_ident())
        return _WatchedPattern(regex.compile(pattern, flags), self)

    def clear(self) -> None:
        self.compiled.clear()
        self.compiled_on.clear()
        self.searches.clear()


@dataclass(frozen=True)
class _WatchedPattern:
    real: regex.Pattern[str]
    watch: WatchedRegex

    def search(self, text: str, *args: Any, **kwargs: Any) -> regex.Match[str] | None:
        timeout = kwargs.get("timeout")
        self.watch.searches.append(Search(self.real.pattern, timeout, threading.get_ident()))
        return self.real.search(text, *args, **kwargs)


def watch_regex(monkeypatch: pytest.MonkeyPatch) -> WatchedRegex:
    """Route every compile and search of bot.moderation.terms through one recorder, the
    patterns it compiled at import (the built-in list) included."""
    watch = WatchedRegex()
    monkeypatch.setattr(terms, "regex", watch)
    monkeypatch.setattr(terms, "ANY_BUILT_IN", _WatchedPattern(terms.ANY_BUILT_IN, watch))
    monkeypatch.setattr(
        terms,
        "BUILT_IN",
        tuple(
            dataclasses.replace(entry, pattern=_WatchedPattern(entry.pattern, watch))
            for entry in terms.BUILT_IN
        ),
    )
    return watch
