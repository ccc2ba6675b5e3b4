"""A model family's profile: how it is recognised, its defaults and knobs, its samplers, its
pipelines per mode, how its latents look and its decoders for previews. The engine reads only
profiles, so a new family is a new profile, not a new code path."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from engine.errors import InvalidRequest
from engine.types import CANVAS_WORDS, MAX_INPUT_IMAGES, GenerationRequest, Mode

# "cfg": guidance_scale is classifier-free guidance, with the negative prompt where it has one.
# "true_cfg": the same, passed as true_cfg_scale (Qwen-Image); guidance_scale is left alone.
# "distilled": guidance_scale is a value the model was trained to take as an input (FLUX.1
#   [dev], Sana-Sprint): one pass a step, no negative prompt.
# "none": the model ignores guidance (FLUX.1 [schnell], step-distilled FLUX.2 [klein]).
Guidance = Literal["cfg", "true_cfg", "distilled", "none"]

# A sampler: (diffusers scheduler class name, options over the model's own scheduler config).
Sampler = tuple[str, Mapping[str, Any]]
# The latents a step callback sees -> (batch, channels, height, width) in the model's space.
Unpack = Callable[[Any, Any, int, int], Any]
# (width, height) -> pipeline arguments its calls need at that size; a pipeline gets those of
# them its call takes.
SizeArguments = Callable[[int, int], Mapping[str, Any]]
# (model_index.json, transformer or unet config.json) -> whether this profile fits.
Match = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
# The number of steps -> pipeline arguments the family's call always needs.
Arguments = Callable[[int], Mapping[str, Any]]
# How its edit pipeline takes the input images: "single": ``image=`` the first image (FLUX.1
# Kontext, Qwen-Image-Edit); "list": ``image=[first, *extra]`` (Qwen-Image-Edit-Plus, FLUX.2).
EditImages = Literal["single", "list"]
# How it follows reference images: "ip_adapter": through the adapters the owner configures for
# it (IP-Adapters, ip_adapter_image=; on FLUX.1 also Redux, prompt_embeds=); "images": as
# further input images of its own pipeline, beside the prompt (FLUX.2 [klein]), at weight 1.
ReferencePath = Literal["ip_adapter", "images"]
# Stands for "the family's inpaint class" as the default of ``Family.outpaint``.
SAME_AS_INPAINT = "<inpaint>"


def _always(index: Mapping[str, Any], denoiser: Mapping[str, Any]) -> bool:
    return True


def _plain(pipe: Any, latents: Any, width: int, height: int) -> Any:
    return latents


def _no_arguments(steps: int) -> Mapping[str, Any]:
    return {}


def _no_size_arguments(width: int, height: int) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class ControlClasses:
    """How a family follows a control map: the diffusers class of its ControlNets and the
    pipelines that run one over the family's modules (txt2img, img2img); ``union_*`` for a
    ControlNet that takes several kinds of map, told apart by a control mode; ``transformer_*``
    for a control transformer."""

    model: str
    text2img: str
    image2img: str | None = None
    union_model: str | None = None
    union_text2img: str | None = None
    union_image2img: str | None = None
    # A whole control transformer used in place of the model's own (FLUX.1 Canny and Depth
    # [dev]: the control latents go in beside the noise); its strength is fixed.
    transformer_text2img: str | None = None
    transformer_image2img: str | None = None


@dataclass(frozen=True)
class Family:
    key: str
    label: str
    pipelines: tuple[str, ...]  # the model_index.json classes that belong to it
    text2img: str  # the diffusers pipeline class per mode; None where the family lacks it
    image2img: str | None
    transformer: str  # the denoiser's diffusers class, for single-file loading (or the UNet's)
    # Repaints where a mask is white (image=, mask_image=, strength=). A family whose text2img
    # class is this one (a dedicated inpainting checkpoint, 9-channel UNet) draws txt2img and
    # img2img as an inpaint masked whole.
    inpaint: str | None = None
    outpaint: str | None = SAME_AS_INPAINT  # paints a padded canvas's padding
    edit: str | None = None  # changes its input images as the prompt instructs
    edit_images: EditImages = "single"
    max_input_images: int = 1  # images one edit takes
    inpaint_strength: float = 1.0  # INPAINT's strength when the request sets none
    # The smallest side and the widest aspect ratio its edit takes of an input image (FLUX.2
    # refuses others inside its pipeline, after the job is charged); None takes any.
    edit_input_limits: tuple[int, float] | None = None
    references: ReferencePath | None = None
    width: int = 1024
    height: int = 1024
    steps: int = 28
    min_steps: int = 1
    guidance: float = 3.5
    guidance_kind: Guidance = "cfg"
    negative_prompt: bool = True
    samplers: Mapping[str, Sampler] = field(default_factory=dict)
    default_sampler: str = "the model's own"
    loras: bool = True
    # Which LoRAs fit: the shape ``engine.local.lora_families`` tells from a LoRA's tensor names;
    # None takes any LoRA unchecked.
    lora_shape: str | None = None
    size_multiple: int = 16
    max_size: int = 2048
    latent_channels: int = 16
    tiny_decoder: str | None = None  # the hub id of its TAESD-style decoder, where one exists
    rgb_factors: tuple[tuple[float, float, float], ...] | None = None
    rgb_bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    unpack: Unpack = _plain
    decode: Callable[[Any, Any], Any] | None = None  # (pipe, latents) -> pixels in [-1, 1]
    arguments: Arguments = _no_arguments
    size_arguments: SizeArguments = _no_size_arguments
    matches: Match = _always
    unet: bool = False  # a UNet family (SD 1.x/2.x, SDXL) rather than a transformer
    half: Literal["float16", "bfloat16"] = "bfloat16"  # its precision on a GPU under "auto"
    text_encoders: str = ""  # named in /models and in the memory plan's log
    control: ControlClasses | None = None  # None: it follows no control map

    def __post_init__(self) -> None:
        if self.outpaint == SAME_AS_INPAINT:
            object.__setattr__(self, "outpaint", self.inpaint)
        if not 1 <= self.max_input_images <= MAX_INPUT_IMAGES:
            raise ValueError(f"{self.key}: max_input_images is 1 to {MAX_INPUT_IMAGES}")

    @property
    def modes(self) -> frozenset[Mode]:
        modes = {Mode.TXT2IMG, Mode.DESCRIBE}
        if self.image2img is not None:
            modes |= {Mode.IMG2IMG, Mode.UPSCALE}
        for mode in (Mode.INPAINT, Mode.OUTPAINT, Mode.EDIT):
            if self.pipeline(mode) is not None:
                modes.add(mode)
        return frozenset(modes)

    def pipeline(self, mode: Mode) -> str | None:
        """The diffusers pipeline class that runs ``mode``; None where the family lacks it."""
        return {
            Mode.TXT2IMG: self.text2img,
            Mode.IMG2IMG: self.image2img,
            Mode.UPSCALE: self.image2img,
            Mode.INPAINT: self.inpaint,
            Mode.OUTPAINT: self.outpaint,
            Mode.EDIT: self.edit,
        }.get(mode)

    @property
    def masked_whole(self) -> bool:
        """Its own pipeline is an inpainting one: txt2img and img2img are an inpaint of the
        whole picture (a blank canvas for txt2img)."""
        return self.inpaint is not None and self.text2img == self.inpaint

    @property
    def takes_guidance(self) -> bool:
        return self.guidance_kind != "none"

    def knobs(self) -> list[str]:
        """What a member may set on this family, for /models and the docs."""
        knobs = []
        if self.negative_prompt:
            knobs.append("negative prompt")
        if self.guidance_kind in ("cfg", "true_cfg"):
            knobs.append("guidance")
        elif self.guidance_kind == "distilled":
            knobs.append("guidance (distilled)")
        if self.samplers:
            knobs.append("samplers")
        if self.loras:
            knobs.append("LoRAs")
        if self.image2img is not None:
            knobs.append("img2img")
        knobs += [
            what
            for mode, what in (
                (Mode.EDIT, "edits"),
                (Mode.INPAINT, "inpainting"),
                (Mode.OUTPAINT, "outpainting"),
            )
            if self.pipeline(mode) is not None
        ]
        return knobs

    def check(self, request: GenerationRequest, model: str, explicit_guidance: bool) -> None:
        """Refuse, up front and by name, each option this family cannot honour."""
        what = f"{model} ({self.label})"
        if request.negative_prompt and not self.negative_prompt:
            raise InvalidRequest("negative", None, f"{what} takes no negative prompt; leave it out")
        if explicit_guidance and not self.takes_guidance:
            raise InvalidRequest(
                "guidance", request.guidance, f"{what} ignores guidance; leave it out"
            )
        if request.sampler is not None and request.sampler not in self.samplers:
            allowed = ", ".join(self.samplers) if self.samplers else ""
            raise InvalidRequest(
                "sampler",
                request.sampler,
                f"{what} takes {allowed}" if allowed else f"{what} has only its own sampler",
            )
        if request.loras and not self.loras:
            raise InvalidRequest("loras", request.loras[0].name, f"{what} takes no LoRAs")
        if request.mode is Mode.IMG2IMG and self.image2img is None:
            raise InvalidRequest(
                "image", None, f"{what} can't start from an image; pick another model"
            )
        if request.mode in CANVAS_WORDS and self.pipeline(request.mode) is None:
            raise InvalidRequest(
                "mode",
                request.mode.value,
                f"{what} can't {CANVAS_WORDS[request.mode]}; pick another model",
            )
        images = 1 + len(request.extra_images)
        if request.mode is Mode.EDIT and images > self.max_input_images:
            raise InvalidRequest(
                "image",
                None,
                f"{what} edits from {self.max_input_images} image"
                f"{'s' if self.max_input_images > 1 else ''} at most; {images} were given",
            )
        if request.mode is Mode.EDIT and self.edit_input_limits is not None:
            self._check_edit_inputs(request, what, *self.edit_input_limits)

    @staticmethod
    def _check_edit_inputs(request: GenerationRequest, what: str, side: int, aspect: float) -> None:
        """Each input image's size from its header (the service has checked its bytes)."""
        inputs = [request.init_image, *request.extra_images]
        for number, data in enumerate(inputs, start=1):
            if data is None:
                continue
            try:
                with Image.open(io.BytesIO(data)) as image:
                    width, height = image.size
            except Exception as err:
                raise InvalidRequest("image", None, "an input image could not be read") from err
            which = f"image {number}" if len(inputs) > 1 else "the image"
            if min(width, height) < side:
                raise InvalidRequest(
                    "image",
                    None,
                    f"{what} edits from images of at least {side} px a side; "
                    f"{which} is {width}×{height}",
                )
            if max(width, height) > aspect * min(width, height):
                raise InvalidRequest(
                    "image",
                    None,
                    f"{what} edits from images at most {aspect:g} times as wide as high or "
                    f"high as wide; {which} is {width}×{height}",
                )

    def guidance_arguments(self, guidance: float, negatives: list[str]) -> dict[str, Any]:
        """The pipeline arguments that carry guidance and the negative prompts."""
        if self.guidance_kind == "true_cfg":
            # Qwen-Image runs true CFG only when a negative prompt is given: a blank one
            # stands for "none" as in its model card.
            return {"true_cfg_scale": guidance, "negative_prompt": [n or " " for n in negatives]}
        # A model that ignores guidance still gets its family's fixed value, so that its
        # pipeline's own default (4.0 on FLUX.2 [klein]) does not warn on every call.
        fixed = self.guidance if self.guidance_kind == "none" else guidance
        arguments: dict[str, Any] = {"guidance_scale": fixed}
        if self.negative_prompt:
            arguments["negative_prompt"] = negatives
        return arguments
