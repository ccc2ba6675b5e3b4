"""Reading the Horde's answers: a generation's censorship and seed, the check's state in the
words a member reads beside the progress bar."""

from __future__ import annotations

from typing import Any

from engine.types import MAX_SEED, GenerationRequest


def censored(generation: dict[str, Any]) -> bool:
    if generation.get("censored") or generation.get("state") == "censored":
        return True
    metadata = generation.get("gen_metadata")
    return isinstance(metadata, list) and any(
        isinstance(item, dict) and item.get("type") == "censorship" for item in metadata
    )


def seed_of(generation: dict[str, Any], request: GenerationRequest, index: int) -> int | None:
    text = str(generation.get("seed", ""))
    # ASCII digits only ("²".isdigit() holds, int() refuses it), short enough for int()
    if text.isascii() and text.isdigit() and len(text) <= 20 and int(text) <= MAX_SEED:
        return int(text)
    return request.seeds[index] if request.seed is not None else None


def number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e7:
        return float(value)
    return None


def progress_words(check: dict[str, Any], count: int) -> str:
    """The Horde's state as a member reads it beside the progress bar."""
    finished = number(check.get("finished")) or 0
    processing = number(check.get("processing")) or 0
    position = number(check.get("queue_position"))
    if processing or finished:
        return f"on the AI Horde: {finished:.0f} of {count} done, {processing:.0f} being made"
    if position is not None:
        return f"waiting in the AI Horde's queue at position {position:.0f}"
    return "waiting in the AI Horde's queue"
