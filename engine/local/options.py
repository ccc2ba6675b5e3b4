"""The local engine's settings, read from its ``[providers.NAME]`` section."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.local.adapter_options import AdapterSpec
from engine.local.control.options import DEFAULT_DEPTH, DEFAULT_POSE, ControlNetSpec
from engine.local.families import by_key
from engine.local.families import keys as family_keys
from engine.local.openvino.options import OpenVinoOptions, Runtime
from engine.loras import lora_names
from engine.options import parse_options

REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
Memory = Literal["auto", "gpu", "model_offload", "group_offload", "sequential_offload"]
Quantize = Literal["none", "nf4", "int8", "torchao_int8", "torchao_fp8"]

# diffusers 0.42's attention backends (``AttentionBackendName``) that run from what is installed,
# each with the package it needs (None: torch alone). Its "*_hub" backends download kernels from
# the hub when first used, so they are refused by name.
ATTENTION_BACKENDS: dict[str, str | None] = {
    "native": None,
    "_native_math": None,
    "_native_flash": None,
    "_native_efficient": None,
    "_native_cudnn": None,
    "flex": None,
    "flash": "flash_attn",
    "flash_varlen": "flash_attn",
    "_flash_3": "flash_attn_interface",
    "_flash_varlen_3": "flash_attn_interface",
    "sage": "sageattention",
    "sage_varlen": "sageattention",
    "_sage_qk_int8_pv_fp8_cuda": "sageattention",
    "_sage_qk_int8_pv_fp8_cuda_sm90": "sageattention",
    "_sage_qk_int8_pv_fp16_cuda": "sageattention",
    "_sage_qk_int8_pv_fp16_triton": "sageattention",
    "xformers": "xformers",
}


def _attention_backend(name: str) -> str:
    if name.endswith("_hub"):
        raise ValueError(
            f"{name} downloads its kernel from the hub at run time, which the engine never does; "
            "install the kernel's package and use its local backend (flash, _flash_3, sage)"
        )
    if name not in ATTENTION_BACKENDS:
        raise ValueError(f"{name!r} is not one of {', '.join(ATTENTION_BACKENDS)}")
    package = ATTENTION_BACKENDS[name]
    if package is not None and importlib.util.find_spec(package) is None:
        raise ValueError(f"{name} needs the {package} package, which is not installed here")
    return name


class ModelSpec(BaseModel):
    """One model: where it comes from, its defaults and its limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    config: str | None = None
    variant: str | None = None
    # The family's profile, when it cannot be read from a model_index.json (a single file, a
    # hub repo not downloaded yet); its defaults fill every setting left out below.
    family: str | None = None
    licence: str | None = None
    width: Annotated[int, Field(ge=64, le=4096, multiple_of=8)] | None = None
    height: Annotated[int, Field(ge=64, le=4096, multiple_of=8)] | None = None
    steps: Annotated[int, Field(ge=1, le=500)] | None = None
    guidance: Annotated[float, Field(ge=0, le=30)] | None = None
    sampler: str | None = None
    max_size: Annotated[int, Field(ge=64, le=8192)] | None = None
    nsfw: bool = False
    tiny_decoder: str | None = None
    decoder: Literal["auto", "tiny", "full"] = "auto"
    runtime: Runtime = "auto"  # "auto": OpenVINO on a CPU with the openvino extra installed
    # Memory (docs/memory.md): where the weights live and in what precision; "auto" picks from
    # the free VRAM, keeping any precision set here. transformer: one .safetensors or .gguf
    # file used instead of the source's own transformer (or UNet).
    memory: Memory = "auto"
    fp8_storage: bool | None = None
    quantize: Quantize | None = None
    quantize_text_encoders: Quantize | None = None
    transformer: str | None = None
    # Speed switches (docs/speed.md): each off unless it costs no quality.
    compile: bool = False
    hotswap_rank: Annotated[int, Field(ge=0, le=1024)] = 64
    attention: str = "native"
    cache: Literal["none", "first_block"] = "none"
    cache_threshold: Annotated[float, Field(gt=0, le=1)] = 0.05

    _attention = field_validator("attention")(_attention_backend)

    @property
    def kind(self) -> Literal["folder", "single_file", "repo"]:
        if self.source.endswith((".safetensors", ".ckpt")):
            return "single_file"
        if Path(self.source).expanduser().is_dir() or not REPO_ID.match(self.source):
            return "folder"
        return "repo"

    @model_validator(mode="after")
    def _single_file_needs_config(self) -> ModelSpec:
        if self.kind == "single_file" and self.config is None:
            raise ValueError(
                "a single-file checkpoint needs config = a local diffusers folder (or repo id) "
                "of the same architecture, so nothing is fetched from the hub"
            )
        if self.max_size is not None and max(self.width or 0, self.height or 0) > self.max_size:
            raise ValueError(f"the default size {self.width}x{self.height} exceeds max_size")
        if self.family is not None and self.family not in family_keys():
            raise ValueError(f"family {self.family!r} is not one of {', '.join(family_keys())}")
        if self.decoder == "tiny" and self.tiny_decoder is None:
            raise ValueError('decoder = "tiny" needs tiny_decoder (for example madebyollin/taesd)')
        return self

    @model_validator(mode="after")
    def _transformer_file_fits_the_source(self) -> ModelSpec:
        if self.transformer is not None and not self.transformer.endswith(
            (".safetensors", ".gguf")
        ):
            raise ValueError(
                f"transformer = {self.transformer!r} is not a .safetensors or .gguf file"
            )
        quantized = self.quantize not in (None, "none") or self.quantize_text_encoders not in (
            None,
            "none",
        )
        if self.kind == "single_file" and (self.transformer is not None or quantized):
            raise ValueError(
                "transformer and quantize go with source = a diffusers folder or hub repo (the "
                "rest of the pipeline), not with a whole-pipeline checkpoint file"
            )
        return self


SD_TURBO = ModelSpec(
    source="stabilityai/sd-turbo",
    variant="fp16",
    width=512,
    height=512,
    steps=1,
    guidance=0.0,
    max_size=1024,
    tiny_decoder="madebyollin/taesd",
)


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: dict[str, ModelSpec] = Field(default_factory=lambda: {"sd-turbo": SD_TURBO})
    default_model: str | None = None
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    threads: Annotated[int, Field(ge=0, le=1024)] = 0
    compile: bool = False
    cache_dir: str | None = None
    lora_dir: str | None = None
    nsfw_loras: tuple[str, ...] = ()
    max_loaded_models: Annotated[int, Field(ge=1, le=32)] = 2
    max_model_memory_gb: Annotated[float, Field(ge=0)] = 0.0
    max_gpu_memory_gb: Annotated[float, Field(ge=0)] = 0.0
    max_batch: Annotated[int, Field(ge=1, le=64)] = 4
    vae_tiling_pixels: Annotated[int, Field(ge=0)] = 1024 * 1024
    preview_every: Annotated[int, Field(ge=0)] = 0
    upscale_factor: Annotated[float, Field(gt=1, le=4)] = 2.0
    upscale_strength: Annotated[float, Field(gt=0, le=1)] = 0.3
    upscaler: str | None = None
    safety_checker: str | None = None
    captioner: str | None = None
    openvino: OpenVinoOptions = Field(default_factory=OpenVinoOptions)
    # Vary (Region) by name: a CLIPSeg model (CIDAS/clipseg-rd64-refined), loaded when first used.
    segmenter: str | None = None
    # Control (docs/control.md): ControlNets by name, and the models that make depth and pose
    # maps from a member's image (None: that kind of map is not made); loaded when first used.
    controlnets: dict[str, ControlNetSpec] = Field(default_factory=dict)
    depth_model: str | None = DEFAULT_DEPTH
    pose_model: str | None = DEFAULT_POSE
    # Finds the people whose poses are drawn (a COCO detector such as PekingU/rtdetr_r50vd);
    # None: the whole picture is one person
    pose_detector: str | None = None
    # Reference adapters per family (docs/references.md), loaded for the jobs that use them.
    adapters: dict[str, AdapterSpec] = Field(default_factory=dict)

    _nsfw_lora_names = field_validator("nsfw_loras")(lora_names)

    @field_validator("depth_model", "pose_model", "pose_detector")
    @classmethod
    def _empty_is_off(cls, source: str | None) -> str | None:
        return source or None  # TOML has no null: "" turns a map model off

    @model_validator(mode="after")
    def _default_model_exists(self) -> LocalOptions:
        if not self.models:
            raise ValueError("at least one model is needed")
        if self.default_model is not None and self.default_model not in self.models:
            raise ValueError(f"default_model {self.default_model!r} is not in models")
        return self

    @model_validator(mode="after")
    def _adapters_fit_their_families(self) -> LocalOptions:
        served: dict[tuple[str, str], str] = {}
        for name, adapter in self.adapters.items():
            if adapter.family not in family_keys():
                raise ValueError(
                    f"adapter {name}: family {adapter.family!r} is not one of "
                    + ", ".join(family_keys())
                )
            family = by_key(adapter.family)
            if family.references != "ip_adapter":
                raise ValueError(
                    f"adapter {name}: {family.label} takes no IP-Adapter here"
                    + ("; it follows reference images itself" if family.references else "")
                )
            if adapter.type == "redux" and not family.key.startswith("flux1"):
                raise ValueError(f"adapter {name}: FLUX.1 Redux is for FLUX.1, not {family.label}")
            if adapter.blocks is not None and not family.unet:
                raise ValueError(
                    f"adapter {name}: blocks are a UNet's (SD, SDXL); {family.label} takes one "
                    "scale"
                )
            other = served.setdefault((adapter.family, adapter.kind), name)
            if other != name:
                raise ValueError(
                    f"adapters {other} and {name} both serve {adapter.kind} references on "
                    f"{family.label}; keep one"
                )
        return self

    @property
    def default(self) -> str:
        return self.default_model or next(iter(self.models))


def parse_local_options(options: Mapping[str, Any]) -> LocalOptions:
    return parse_options(LocalOptions, options, kind="local", whole="models")
