"""The reference adapters an owner configures per family (``[providers.NAME.adapters.NAME]``):
IP-Adapters that turn a reference image into what the denoiser attends to."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.types import ReferenceKind

# The scales one adapter takes per UNet block, as diffusers' set_ip_adapter_scale reads them:
# {"up": {"block_0": [0.0, 1.0, 0.0]}} (InstantStyle's style-only layer on SDXL); the blocks
# left out follow no reference.
Blocks = dict[str, Any]


class AdapterSpec(BaseModel):
    """One adapter: an IP-Adapter (its weights file in ``source``, a hub repo or a folder,
    under ``subfolder``, and the CLIP image encoder beside it) or FLUX.1 Redux (``source``
    holds its image_encoder, feature_extractor and image_embedder folders); the family it was
    trained for and the reference kind it serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    source: str
    type: Literal["ip_adapter", "redux"] = "ip_adapter"
    weight_name: str | None = None
    subfolder: str = ""
    # diffusers' image_encoder_folder: a folder name inside ``subfolder``, or a path inside
    # ``source`` when it holds a "/"; or image_encoder_source, a hub repo or folder of its own
    # (FLUX.1's IP-Adapter uses openai/clip-vit-large-patch14).
    image_encoder: str = "image_encoder"
    image_encoder_source: str | None = None
    kind: ReferenceKind = ReferenceKind.STYLE
    # Per-block scales at weight 1 (each value is multiplied by the reference's weight); none:
    # every attention layer at the weight.
    blocks: Blocks | None = None
    licence: str | None = None
    scale: Annotated[float, Field(gt=0, le=2)] = 1.0  # the adapter's scale at weight 1

    @model_validator(mode="after")
    def _weights_for_an_ip_adapter(self) -> AdapterSpec:
        if self.type == "ip_adapter" and self.weight_name is None:
            raise ValueError("an IP-Adapter needs weight_name, its weights file")
        if self.type == "redux" and (self.weight_name is not None or self.blocks is not None):
            raise ValueError("FLUX.1 Redux takes no weight_name or blocks: source is its folder")
        return self

    @field_validator("weight_name")
    @classmethod
    def _weights_file(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.endswith((".safetensors", ".bin")):
            raise ValueError(f"{value!r} is not a .safetensors or .bin file")
        if PurePosixPath(value).name != value:
            raise ValueError(f"{value!r} is a file name; put its folder in subfolder")
        return value

    @field_validator("subfolder", "image_encoder")
    @classmethod
    def _inside(cls, value: str) -> str:
        if ".." in PurePosixPath(value).parts or value.startswith("/"):
            raise ValueError(f"{value!r} leaves the adapter's source")
        return value

    @field_validator("blocks")
    @classmethod
    def _blocks(cls, value: Blocks | None) -> Blocks | None:
        if value is None:
            return None
        for part, blocks in value.items():
            if part not in ("down", "mid", "up"):
                raise ValueError(f"blocks: {part!r} is not down, mid or up")
            if part == "mid":
                if not isinstance(blocks, int | float):
                    raise ValueError("blocks: mid is one number")
                continue
            if not isinstance(blocks, dict):
                raise ValueError(f"blocks: {part} is a table of block_N = [scales]")
            for name, scales in blocks.items():
                if not name.startswith("block_") or not name[6:].isdigit():
                    raise ValueError(f"blocks: {part}.{name} is not block_N")
                numbers = scales if isinstance(scales, list) else [scales]
                if not all(isinstance(n, int | float) and 0 <= n <= 2 for n in numbers):
                    raise ValueError(f"blocks: {part}.{name} holds scales from 0 to 2")
        return value

    def scaled(self, weight: float) -> float | Blocks:
        """The set_ip_adapter_scale value of one reference at ``weight``."""
        if self.blocks is None:
            return self.scale * weight
        scaled: Blocks = _times(self.blocks, self.scale * weight)
        return scaled


def _times(value: Any, factor: float) -> Any:
    if isinstance(value, dict):
        return {key: _times(inner, factor) for key, inner in value.items()}
    if isinstance(value, list):
        return [_times(inner, factor) for inner in value]
    return float(value) * factor
