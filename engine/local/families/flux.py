"""The FLUX families: FLUX.1 [schnell] and [dev] with their ControlNets, Kontext (edits), Fill
(inpainting), Chroma (built on FLUX.1 [schnell]), and FLUX.2 [klein] distilled and base."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.local.families import latents
from engine.local.families.profile import ControlClasses, Family
from engine.local.samplers import FLOW_SAMPLERS


def _guidance_embedded(index: Mapping[str, Any], denoiser: Mapping[str, Any]) -> bool:
    return bool(denoiser.get("guidance_embeds", True))


def _step_distilled(index: Mapping[str, Any], denoiser: Mapping[str, Any]) -> bool:
    return bool(index.get("is_distilled", False))


def _kontext_size(width: int, height: int) -> Mapping[str, Any]:
    """FLUX.1 Kontext would draw a megapixel at the asked aspect ratio (``max_area``) and
    resize its input image to the nearest resolution it was trained at (``_auto_resize``);
    the engine has already sized the input, so it draws the asked size from it as it is."""
    return {"max_area": width * height, "_auto_resize": False}


# FLUX.1's ControlNets (InstantX, Shakker-Labs, XLabs in diffusers form) are one class, plain or
# union (a union one takes ``control_mode``), run by the same pipelines.
FLUX_CONTROL = ControlClasses(
    model="FluxControlNetModel",
    text2img="FluxControlNetPipeline",
    image2img="FluxControlNetImg2ImgPipeline",
    union_model="FluxControlNetModel",
    union_text2img="FluxControlNetPipeline",
    union_image2img="FluxControlNetImg2ImgPipeline",
    transformer_text2img="FluxControlPipeline",
    transformer_image2img="FluxControlImg2ImgPipeline",
)
FLUX1_SCHNELL = Family(
    key="flux1-schnell",
    label="FLUX.1 [schnell]",
    pipelines=("FluxPipeline", "FluxImg2ImgPipeline"),
    text2img="FluxPipeline",
    image2img="FluxImg2ImgPipeline",
    inpaint="FluxInpaintPipeline",
    inpaint_strength=0.85,
    references="ip_adapter",  # an IP-Adapter for FLUX.1 (XLabs' layout)
    transformer="FluxTransformer2DModel",
    lora_shape="flux1",
    steps=4,
    guidance=0.0,
    guidance_kind="none",
    negative_prompt=False,
    samplers=FLOW_SAMPLERS,
    tiny_decoder="madebyollin/taef1",
    rgb_factors=latents.FLUX,
    rgb_bias=latents.FLUX_BIAS,
    unpack=latents.flux_packed,
    matches=lambda index, denoiser: not _guidance_embedded(index, denoiser),
    text_encoders="CLIP-L, T5-XXL",
    control=FLUX_CONTROL,
)
FLUX1 = Family(
    key="flux1",
    label="FLUX.1 [dev]",
    pipelines=("FluxPipeline", "FluxImg2ImgPipeline"),
    text2img="FluxPipeline",
    image2img="FluxImg2ImgPipeline",
    inpaint="FluxInpaintPipeline",
    inpaint_strength=0.85,
    references="ip_adapter",  # an IP-Adapter for FLUX.1 (XLabs' layout)
    transformer="FluxTransformer2DModel",
    lora_shape="flux1",
    steps=28,
    guidance=3.5,
    guidance_kind="distilled",
    negative_prompt=False,
    samplers=FLOW_SAMPLERS,
    tiny_decoder="madebyollin/taef1",
    rgb_factors=latents.FLUX,
    rgb_bias=latents.FLUX_BIAS,
    unpack=latents.flux_packed,
    text_encoders="CLIP-L, T5-XXL",
    control=FLUX_CONTROL,
)
# FLUX.1 Kontext [dev]: FLUX.1 [dev]'s transformer trained to edit the image it is given; it
# also draws from the prompt alone, and FLUX.1's img2img runs over its modules.
FLUX1_KONTEXT = Family(
    key="flux1-kontext",
    label="FLUX.1 Kontext [dev]",
    pipelines=("FluxKontextPipeline", "FluxKontextInpaintPipeline"),
    text2img="FluxKontextPipeline",
    image2img="FluxImg2ImgPipeline",
    edit="FluxKontextPipeline",
    inpaint="FluxKontextInpaintPipeline",
    transformer="FluxTransformer2DModel",
    lora_shape="flux1",
    steps=28,
    guidance=2.5,  # the model card's value
    guidance_kind="distilled",
    negative_prompt=False,
    samplers=FLOW_SAMPLERS,
    tiny_decoder="madebyollin/taef1",
    rgb_factors=latents.FLUX,
    rgb_bias=latents.FLUX_BIAS,
    unpack=latents.flux_packed,
    size_arguments=_kontext_size,
    text_encoders="CLIP-L, T5-XXL",
)
# FLUX.1 Fill [dev]: a dedicated inpainting and outpainting model (its transformer also takes
# the masked image and the mask); txt2img and img2img are an inpaint of the whole picture.
FLUX1_FILL = Family(
    key="flux1-fill",
    label="FLUX.1 Fill [dev]",
    pipelines=("FluxFillPipeline",),
    text2img="FluxFillPipeline",
    image2img="FluxFillPipeline",
    inpaint="FluxFillPipeline",
    transformer="FluxTransformer2DModel",
    lora_shape="flux1",
    steps=50,
    guidance=30.0,  # the model card's value: Fill was distilled at a high guidance
    guidance_kind="distilled",
    negative_prompt=False,
    samplers=FLOW_SAMPLERS,
    tiny_decoder="madebyollin/taef1",
    rgb_factors=latents.FLUX,
    rgb_bias=latents.FLUX_BIAS,
    unpack=latents.flux_packed,
    text_encoders="CLIP-L, T5-XXL",
)
CHROMA = Family(
    key="chroma",
    label="Chroma",
    pipelines=("ChromaPipeline", "ChromaImg2ImgPipeline"),
    text2img="ChromaPipeline",
    image2img="ChromaImg2ImgPipeline",
    # No inpaint: diffusers 0.42.1's ChromaInpaintPipeline reads a transformer setting
    # (guidance_embeds) that Chroma's transformer has not, and fails on every call.
    transformer="ChromaTransformer2DModel",
    lora_shape="flux1",
    steps=26,
    guidance=4.0,
    samplers=FLOW_SAMPLERS,
    tiny_decoder="madebyollin/taef1",
    rgb_factors=latents.FLUX,
    rgb_bias=latents.FLUX_BIAS,
    unpack=latents.flux_packed,
    text_encoders="T5-XXL",
)
FLUX2_KLEIN = Family(
    key="flux2-klein",
    label="FLUX.2 [klein]",
    pipelines=("Flux2KleinPipeline",),
    text2img="Flux2KleinPipeline",
    image2img=None,
    # Edits from reference images (image=[...]), each kept at its own size up to a megapixel.
    edit="Flux2KleinPipeline",
    edit_images="list",
    max_input_images=4,
    edit_input_limits=(64, 8.0),  # Flux2ImageProcessor.check_image_input's
    references="images",  # its edit's input images, beside the prompt
    inpaint="Flux2KleinInpaintPipeline",
    inpaint_strength=0.85,
    transformer="Flux2Transformer2DModel",
    lora_shape="flux2",
    steps=4,
    guidance=1.0,
    guidance_kind="none",
    negative_prompt=False,
    samplers=FLOW_SAMPLERS,
    latent_channels=32,
    unpack=latents.flux2_packed,
    decode=latents.flux2_decode,
    matches=_step_distilled,
    text_encoders="Qwen3",
)
FLUX2_KLEIN_BASE = Family(
    key="flux2-klein-base",
    label="FLUX.2 [klein] base",
    pipelines=("Flux2KleinPipeline",),
    text2img="Flux2KleinPipeline",
    image2img=None,
    # Edits from reference images (image=[...]), each kept at its own size up to a megapixel.
    edit="Flux2KleinPipeline",
    edit_images="list",
    max_input_images=4,
    edit_input_limits=(64, 8.0),  # Flux2ImageProcessor.check_image_input's
    references="images",  # its edit's input images, beside the prompt
    inpaint="Flux2KleinInpaintPipeline",
    inpaint_strength=0.85,
    transformer="Flux2Transformer2DModel",
    lora_shape="flux2",
    steps=50,
    guidance=4.0,
    negative_prompt=False,
    samplers=FLOW_SAMPLERS,
    latent_channels=32,
    unpack=latents.flux2_packed,
    decode=latents.flux2_decode,
    text_encoders="Qwen3",
)
