"""LoRA references: the rules every LoRA name follows, and A1111's ``<lora:NAME:WEIGHT>``
written in a prompt, lifted into the request's checked list."""

from __future__ import annotations

import re
import unicodedata

from engine.errors import InvalidRequest
from engine.types import GenerationRequest, LoraRef

MAX_NAME = 200
# How A1111 (and Forge, SD.Next) find extra networks in a prompt: any <type:args>. Each one is
# cut from the text and handed to the network of that type: lora, lyco, hypernet, extensions'.
EXTRA_NETWORK = re.compile(r"<(\w+):([^>]+)>")
LORA_TYPES = ("lora", "lyco")  # lyco is A1111's alias for lora
WEIGHT = re.compile(r"^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)\s*$")
NAME_RULE = "a LoRA's plain name (no path, no < > : or control characters)"


def is_lora_name(name: str) -> bool:
    """A LoRA is named, never located: no folder parts, nothing a prompt syntax reads."""
    return not (
        not name.strip()
        or len(name) > MAX_NAME
        or name in (".", "..")
        or any(char in "/\\<>:" for char in name)
        or any(unicodedata.category(char) in ("Cc", "Cf") for char in name)
    )


def check_lora_name(name: str) -> None:
    if not is_lora_name(name):
        raise InvalidRequest("loras", name, f"use {NAME_RULE}")


def lora_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """A settings validator: each of ``names`` a LoRA's plain name."""
    for name in names:
        if not is_lora_name(name):
            raise ValueError(f"{name!r} is not {NAME_RULE}")
    return names


def lift_prompt_loras(request: GenerationRequest) -> GenerationRequest:
    """``<lora:NAME>`` and ``<lora:NAME:WEIGHT>`` in the prompt become entries of ``loras``
    (after those given as an option), so the same checks apply to both. The negative prompt
    takes none."""
    for match in EXTRA_NETWORK.finditer(request.negative_prompt):
        if match[1] in LORA_TYPES:
            raise InvalidRequest(
                "negative", match[0], "it takes no LoRAs; name them in the prompt or in loras"
            )
    lifted: list[LoraRef] = []

    def lift(match: re.Match[str]) -> str:
        if match[1] not in LORA_TYPES:
            return match[0]
        parts = match[2].split(":")
        if len(parts) > 2 or (len(parts) == 2 and not WEIGHT.match(parts[1])):
            raise InvalidRequest("prompt", match[0], "write <lora:name> or <lora:name:weight>")
        name = parts[0].strip()
        check_lora_name(name)
        lifted.append(LoraRef(name, float(parts[1]) if len(parts) == 2 else 1.0))
        return ""

    prompt = EXTRA_NETWORK.sub(lift, request.prompt)
    if not lifted:
        return request
    prompt = re.sub(r"  +", " ", prompt).strip()
    return request.replace(prompt=prompt, loras=(*request.loras, *lifted))


def check_loras(loras: tuple[LoraRef, ...]) -> None:
    """Names follow the rule, weights stay within -2 to 2, and a LoRA is named once (twice at
    2 would be one at 4)."""
    seen: set[str] = set()
    for lora in loras:
        check_lora_name(lora.name)
        if not -2 <= lora.weight <= 2:
            raise InvalidRequest(
                "loras", f"{lora.name}:{lora.weight:g}", "use a weight from -2 to 2"
            )
        if lora.name in seen:
            raise InvalidRequest("loras", lora.name, "name each LoRA once")
        seen.add(lora.name)
