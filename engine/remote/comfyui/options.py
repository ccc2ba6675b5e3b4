"""The settings of a ComfyUI provider: the server, how to reach it through a proxy, and the
owner's workflows, each an API-format graph plus a binding of our fields to its inputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.remote.base import RemoteOptions

# Our request's fields a binding may map to node inputs ("node_id.input").
FIELDS = (
    "prompt",
    "negative",
    "seed",
    "steps",
    "cfg",
    "sampler",
    "width",
    "height",
    "count",
    "denoise",
    "image",
    "mask",
    "lora_name",
    "lora_weight",
)
WORKFLOW_NAME = r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}$"


def _targets(value: str | list[str]) -> tuple[str, ...]:
    targets = (value,) if isinstance(value, str) else tuple(value)
    if not targets:
        raise ValueError("name at least one 'node_id.input'")
    for target in targets:
        node, dot, name = target.partition(".")
        if not (dot and node.strip() and name.strip()):
            raise ValueError(f"{target!r} is not 'node_id.input' (the node's id in the workflow)")
    return targets


class WorkflowSettings(BaseModel):
    """One workflow: ``path`` of its API-format JSON; ``binding`` maps each of our fields to one
    input or a list of inputs ("6.text"); ``output`` the SaveImage node whose images are the
    result (every saved image when left out)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    binding: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    output: str | None = None
    nsfw: bool = False
    description: str | None = None

    @field_validator("binding", mode="before")
    @classmethod
    def _binding(cls, value: object) -> object:
        if not isinstance(value, dict):
            raise ValueError("a table of field = 'node_id.input'")
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            raise ValueError(
                f"{unknown[0]!r} is not a field a binding maps; use {', '.join(FIELDS)}"
            )
        return {field: _targets(target) for field, target in value.items()}

    @model_validator(mode="after")
    def _pairs(self) -> WorkflowSettings:
        bound = self.binding
        if "prompt" not in bound:
            raise ValueError("bind prompt: the node input that takes the prompt text")
        if "mask" in bound and "image" not in bound:
            raise ValueError("a mask is uploaded onto its image: bind image too")
        if "lora_weight" in bound and "lora_name" not in bound:
            raise ValueError("bind lora_name with lora_weight")
        return self


class ComfyOptions(RemoteOptions):
    base_url: str = "http://127.0.0.1:8188"
    workflows: Annotated[dict[str, WorkflowSettings], Field(min_length=1)]
    # Basic auth for a proxy in front (the password is the provider's key); without it a key
    # goes as a bearer token.
    username: str | None = None
    # Keys our prompt ids; the same on every worker that may run a job's later attempt.
    instance_id: str | None = None
    max_images: Annotated[int, Field(ge=1, le=16)] = 4
    poll_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    deadline_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = 1800.0
    max_preview_kb: Annotated[int, Field(ge=16, le=8192)] = 2048

    @field_validator("workflows")
    @classmethod
    def _names(cls, workflows: dict[str, WorkflowSettings]) -> dict[str, WorkflowSettings]:
        for name in workflows:
            if not re.match(WORKFLOW_NAME, name):
                raise ValueError(
                    f"{name!r} is not a workflow name (letters, digits, space . _ + -, 64 at most)"
                )
        return workflows

    @model_validator(mode="after")
    def _no_model_list(self) -> ComfyOptions:
        if self.models:
            raise ValueError("each workflow is a model: list them under workflows, not models")
        return self
