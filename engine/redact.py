"""The keys the engine was given, and the one function that takes them out of any text: every
engine error passes its message through it, so no adapter can forget to."""

from __future__ import annotations

import threading

REDACTED = "[redacted]"

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(*secrets: str | None) -> None:
    """Remember keys (and any form of them a server could echo, such as a basic-auth token)."""
    with _lock:
        _secrets.update(secret for secret in secrets if secret)


def scrub(text: str) -> str:
    """``text`` with every registered key replaced, longest first (a key may contain another)."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
