"""What a chat model says, made into a prompt: its reasoning, preamble, quotes and markdown
gone, one line, no mentions, no control characters, within a length."""

from __future__ import annotations

import re
import unicodedata

_THINKING = re.compile(r"<think>.*?(</think>|$)", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"```[a-z]*", re.IGNORECASE)
_PREAMBLE = re.compile(
    r"^\s*(?:"
    r"(?:sure(?: thing)?|certainly|okay|ok|of course|absolutely|alright)\s*[,!.:]"
    r"|here(?:'s| is| are)\b[^\n:]{0,80}:"
    r"|(?:an? |the )?(?:enhanced|improved|detailed|expanded|translated|english|shortened|"
    r"shorter|new|final)?\s*(?:prompt|translation|version|result|output)\s*(?:\([^)\n]{0,40}\))?"
    r"\s*:"
    r")\s*",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|#{1,6})\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|~~|`+)")
_DISCORD_MENTION = re.compile(r"<(?:@[!&]?|#|/[^:>]{1,64}:)\d+>|<a?:\w{1,32}:\d+>")
_EVERYONE = re.compile(r"@(everyone|here)\b", re.IGNORECASE)
# a prompt needs no link: a masked one keeps its words, a bare one (an invite, a scheme-less
# discord.gg/...) goes whole
_MASKED_LINK = re.compile(r"\[([^\]\n]{0,200})\]\(\s*<?[^)\s]*>?(?:\s+\"[^\"]*\")?\s*\)")
_LINK = re.compile(
    r"<?(?:[a-z][a-z0-9+.-]{1,20}://|www\.)\S+|"
    r"\b(?:discord(?:app)?\.(?:gg|com/invite|io|me|li)|dsc\.gg|invite\.gg)\s*/\s*\S+",
    re.IGNORECASE,
)
_QUOTES = (('"', '"'), ("'", "'"), ("“", "”"), ("„", "“"), ("«", "»"), ("‘", "’"), ("「", "」"))


def sanitised(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters (cut at a word where it can be); empty when
    nothing usable is left."""
    text = _THINKING.sub(" ", text)
    text = _FENCE.sub(" ", text)
    text = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") and char != "\n" else char
        for char in text
    )
    text = _MASKED_LINK.sub(r"\1", text)
    text = _LINK.sub(" ", text)
    text = _BULLET.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = _DISCORD_MENTION.sub("", text)
    text = _EVERYONE.sub(r"\1", text)
    text = text.replace("@", "")
    text = " ".join(text.split())
    for _ in range(3):  # "Sure! Here is the prompt: "..."" takes a few rounds
        before = text
        text = _PREAMBLE.sub("", text, count=1).strip()
        text = _unquoted(text)
        if text == before:
            break
    return _bounded(text, limit)


def _unquoted(text: str) -> str:
    for opening, closing in _QUOTES:
        if len(text) >= 2 and text.startswith(opening) and text.endswith(closing):
            inner = text[len(opening) : -len(closing)]
            if opening not in inner and closing not in inner:
                return inner.strip()
    return text


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space >= limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:-")
