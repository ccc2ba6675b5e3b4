"""The families the local engine knows, most specific first: a model is the first profile
whose pipeline class and configs match."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from engine.local.families import latents
from engine.local.families.profile import SAME_AS_INPAINT, ControlClasses, Family
from engine.local.samplers import FLOW_SAMPLERS, SAMPLERS


def _guidance_embedded(index: Mapping[str, Any], denoiser: Mapping[str, Any]) -> bool:
    return bool(denoiser.get("guidance_embeds", True))


def _step_distilled(index: Mapping[str, Any], denoiser: Mapping[str, Any]) -> bool:
    return bool(index.get("is_distilled", False))


def _inpainting_unet(index: Mapping[str, Any], denoiser: Mapping[str, Any]) -> bool:
    """A dedicated inpainting checkpoint: its UNet also takes the mask and the masked image's
    latents (4 + 1 + 4 input channels)."""
    return denoiser.get("in_channels") == 9


def _plain_unet(index: Mapping[str, Any], denoiser: Mapping[str, Any]) -> bool:
    return not _inpainting_unet(index, denoiser)


def _at_the_asked_size(steps: int) -> Mapping[str, Any]:
    """Sana's pipelines would draw at the nearest 1024 px aspect-ratio bucket and resize to the
    asked size; drawn at the asked size, as every other family is, the cost and the previews
    are those of the size a member chose."""
    return {"use_resolution_binning": False}


def _kontext_size(width: int, height: int) -> Mapping[str, Any]:
    """FLUX.1 Kontext would draw a megapixel at the asked aspect ratio (``max_area``) and
    resize its input image to the nearest resolution it was trained at (``_auto_resize``);
    the engine has already sized the input, so it draws the asked size from it as it is."""
    return {"max_area": width * height, "_auto_resize": False}


def _sprint_arguments(steps: int) -> Mapping[str, Any]:
    """Sana-Sprint's published two-step schedule has a fixed middle timestep; any other
    number of steps spaces them evenly."""
    middle = {} if steps == 2 else {"intermediate_timesteps": None}
    return {**_at_the_asked_size(steps), **middle}


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
SD = Family(
    key="sd",
    label="Stable Diffusion 1.x/2.x",
    pipelines=(
        "StableDiffusionPipeline",
        "StableDiffusionImg2ImgPipeline",
        "StableDiffusionInpaintPipeline",
    ),
    text2img="StableDiffusionPipeline",
    image2img="StableDiffusionImg2ImgPipeline",
    # A plain model's UNet inpaints through diffusers' latent blending: some of the original
    # under the mask helps the repaint fit its surroundings.
    inpaint="StableDiffusionInpaintPipeline",
    inpaint_strength=0.85,
    references="ip_adapter",
    transformer="UNet2DConditionModel",
    lora_shape="sd",
    width=512,
    height=512,
    steps=25,
    guidance=7.0,
    samplers=SAMPLERS,
    size_multiple=8,
    max_size=1024,
    latent_channels=4,
    tiny_decoder="madebyollin/taesd",
    rgb_factors=latents.SD,
    unet=True,
    half="float16",
    text_encoders="CLIP",
    matches=_plain_unet,
    control=ControlClasses(
        model="ControlNetModel",
        text2img="StableDiffusionControlNetPipeline",
        image2img="StableDiffusionControlNetImg2ImgPipeline",
    ),
)
SDXL = Family(
    key="sdxl",
    label="SDXL",
    pipelines=(
        "StableDiffusionXLPipeline",
        "StableDiffusionXLImg2ImgPipeline",
        "StableDiffusionXLInpaintPipeline",
    ),
    text2img="StableDiffusionXLPipeline",
    image2img="StableDiffusionXLImg2ImgPipeline",
    inpaint="StableDiffusionXLInpaintPipeline",
    inpaint_strength=0.85,
    references="ip_adapter",
    transformer="UNet2DConditionModel",
    lora_shape="sdxl",
    steps=25,
    guidance=6.0,
    samplers=SAMPLERS,
    size_multiple=8,
    latent_channels=4,
    tiny_decoder="madebyollin/taesdxl",
    rgb_factors=latents.SDXL,
    rgb_bias=latents.SDXL_BIAS,
    unet=True,
    half="float16",
    text_encoders="CLIP-L, OpenCLIP-G",
    matches=_plain_unet,
    control=ControlClasses(
        model="ControlNetModel",
        text2img="StableDiffusionXLControlNetPipeline",
        image2img="StableDiffusionXLControlNetImg2ImgPipeline",
        union_model="ControlNetUnionModel",
        union_text2img="StableDiffusionXLControlNetUnionPipeline",
        union_image2img="StableDiffusionXLControlNetUnionImg2ImgPipeline",
    ),
)
# Dedicated inpainting checkpoints (stable-diffusion-inpainting, SD 2 inpainting, SDXL
# inpainting 0.1): the same family with a 9-channel UNet, which only diffusers' inpaint
# pipelines can run. txt2img and img2img are an inpaint of the whole picture, which is how these
# checkpoints were trained to draw from nothing (a quarter of their training masked it all).
SD_INPAINT = replace(
    SD,
    key="sd-inpaint",
    label="Stable Diffusion 1.x/2.x inpainting",
    pipelines=("StableDiffusionInpaintPipeline", "StableDiffusionPipeline"),
    text2img="StableDiffusionInpaintPipeline",
    image2img="StableDiffusionInpaintPipeline",
    inpaint="StableDiffusionInpaintPipeline",
    outpaint=SAME_AS_INPAINT,
    inpaint_strength=1.0,
    matches=_inpainting_unet,
    control=None,
)
SDXL_INPAINT = replace(
    SDXL,
    key="sdxl-inpaint",
    label="SDXL inpainting",
    pipelines=("StableDiffusionXLInpaintPipeline", "StableDiffusionXLPipeline"),
    text2img="StableDiffusionXLInpaintPipeline",
    image2img="StableDiffusionXLInpaintPipeline",
    inpaint="StableDiffusionXLInpaintPipeline",
    outpaint=SAME_AS_INPAINT,
    inpaint_strength=1.0,
    matches=_inpainting_unet,
    control=None,
)
SD3 = Family(
    key="sd3",
    label="Stable Diffusion 3.5",
    pipelines=("StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline"),
    text2img="StableDiffusion3Pipeline",
    image2img="StableDiffusion3Img2ImgPipeline",
    inpaint="StableDiffusion3InpaintPipeline",
    inpaint_strength=0.85,
    transformer="SD3Transformer2DModel",
    lora_shape="sd3",
    steps=28,
    guidance=4.5,
    samplers=FLOW_SAMPLERS,
    tiny_decoder="madebyollin/taesd3",
    rgb_factors=latents.SD3,
    rgb_bias=latents.SD3_BIAS,
    text_encoders="CLIP-L, OpenCLIP-G, T5-XXL",
    # SD 3.5's ControlNets (canny, depth, blur): from a prompt only, diffusers has no img2img
    control=ControlClasses(
        model="SD3ControlNetModel", text2img="StableDiffusion3ControlNetPipeline"
    ),
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
QWEN_IMAGE = Family(
    key="qwen-image",
    label="Qwen-Image",
    pipelines=("QwenImagePipeline", "QwenImageImg2ImgPipeline"),
    text2img="QwenImagePipeline",
    image2img="QwenImageImg2ImgPipeline",
    inpaint="QwenImageInpaintPipeline",
    inpaint_strength=0.85,
    transformer="QwenImageTransformer2DModel",
    lora_shape="qwen-image",
    width=1328,
    height=1328,
    steps=50,
    min_steps=2,  # one step gives NaN sigmas with its shift_terminal
    guidance=4.0,
    guidance_kind="true_cfg",
    samplers=FLOW_SAMPLERS,
    rgb_factors=latents.WAN,
    rgb_bias=latents.WAN_BIAS,
    unpack=latents.qwen_packed,
    text_encoders="Qwen2.5-VL 7B",
)
Z_IMAGE = Family(
    key="z-image",
    label="Z-Image",
    pipelines=("ZImagePipeline", "ZImageImg2ImgPipeline"),
    text2img="ZImagePipeline",
    image2img="ZImageImg2ImgPipeline",
    inpaint="ZImageInpaintPipeline",
    inpaint_strength=0.85,
    transformer="ZImageTransformer2DModel",
    lora_shape="z-image",
    steps=9,
    guidance=0.0,
    samplers=FLOW_SAMPLERS,
    tiny_decoder="madebyollin/taef1",
    rgb_factors=latents.FLUX,
    rgb_bias=latents.FLUX_BIAS,
    text_encoders="Qwen3 4B",
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
SANA = Family(
    key="sana",
    label="Sana",
    pipelines=("SanaPipeline",),
    text2img="SanaPipeline",
    image2img=None,
    transformer="SanaTransformer2DModel",
    lora_shape="sana",
    steps=20,
    guidance=4.5,
    samplers=FLOW_SAMPLERS,  # built with its DPM-Solver's flow_shift (see make_scheduler)
    default_sampler="DPM++ 2M (flow)",
    size_multiple=32,
    latent_channels=32,
    decode=latents.sana_decode,
    arguments=_at_the_asked_size,
    text_encoders="Gemma 2 2B",
)
SANA_SPRINT = Family(
    key="sana-sprint",
    label="Sana-Sprint",
    pipelines=("SanaSprintPipeline", "SanaSprintImg2ImgPipeline"),
    text2img="SanaSprintPipeline",
    image2img="SanaSprintImg2ImgPipeline",
    transformer="SanaTransformer2DModel",
    lora_shape="sana",
    steps=2,
    guidance=4.5,
    guidance_kind="distilled",
    negative_prompt=False,
    samplers={},  # its SCM scheduler's set_timesteps takes what no flow scheduler does
    default_sampler="SCM",
    size_multiple=32,
    latent_channels=32,
    unpack=latents.sprint_trigflow,
    decode=latents.sana_decode,
    arguments=_sprint_arguments,
    text_encoders="Gemma 2 2B",
)

FAMILIES: tuple[Family, ...] = (
    SD_INPAINT,
    SD,
    SDXL_INPAINT,
    SDXL,
    SD3,
    FLUX1_SCHNELL,
    FLUX1,
    FLUX1_KONTEXT,
    FLUX1_FILL,
    CHROMA,
    QWEN_IMAGE,
    Z_IMAGE,
    FLUX2_KLEIN,
    FLUX2_KLEIN_BASE,
    SANA,
    SANA_SPRINT,
)
