"""What a provider's answer says in words: its own error messages, for a refusal a member
can read, and when it asks to be tried again (Retry-After)."""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
from datetime import UTC
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from engine.remote.http import Answer

log = logging.getLogger(__name__)


def retry_after_of(headers: httpx.Headers) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date); None when it
    is absent or unreadable, so that the normal backoff applies."""
    value = str(headers.get("retry-after", "")).strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            log.info("Ignoring an unreadable Retry-After header: %.40r", value)
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        log.info("Ignoring an unreadable Retry-After header: %.40r", value)
        return None
    return max(0.0, seconds)


def provider_messages(answer: Answer) -> tuple[str, ...]:
    """The provider's own words in an error body: ``msg``, ``message``, ``detail``, ``error``
    and ``errors`` as text, as ``{message}`` or as FastAPI's list of ``{loc, msg}``. An empty
    text, an exception's bare class name (A1111's ``error``) and a text already said in other
    words (A1111's ``errors`` repeats ``detail`` as "404: detail") are left out."""
    data = answer.json()
    if not isinstance(data, dict):
        return ()
    found: list[str] = []
    for key in ("msg", "message", "detail", "errors", "error"):
        for raw in _texts(data.get(key)):
            text = " ".join(raw.split())
            if not text or any(text in seen or seen in text for seen in found):
                continue
            if key == "error" and found and _CLASS_NAME.fullmatch(text):
                continue
            found.append(text)
    return tuple(found)


_CLASS_NAME = re.compile(r"[A-Za-z_][\w.]*(Error|Exception)")


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return [value["message"]]
    if isinstance(value, dict) and isinstance(value.get("msg"), str):
        loc = [str(part) for part in value.get("loc") or () if part != "body"]
        return [(".".join(loc) + ": " if loc else "") + value["msg"]]
    if isinstance(value, list):
        return [text for item in value[:20] for text in _texts(item)]
    return []


def message_suffix(answer: Answer) -> str:
    """``provider_messages`` as the end of a sentence: ": this; that", or nothing."""
    messages = provider_messages(answer)
    return ": " + "; ".join(text.rstrip(".") for text in messages)[:500] if messages else ""
