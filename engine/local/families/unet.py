"""The UNet families (Stable Diffusion 1.x/2.x and SDXL), each with its dedicated-inpainting
variant: a 9-channel UNet, told apart by its config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from engine.local.families import latents
from engine.local.families.profile import SAME_AS_INPAINT, ControlClasses, Family
from engine.local.samplers import SAMPLERS


def _inpainting_unet(index: Mapping[str, Any], denoiser: Mapping[str, Any]) -> bool:
    """A dedicated inpainting checkpoint: its UNet also takes the mask and the masked image's
    latents (4 + 1 + 4 input channels)."""
    return denoiser.get("in_channels") == 9


def _plain_unet(index: Mapping[str, Any], denoiser: Mapping[str, Any]) -> bool:
    return not _inpainting_unet(index, denoiser)


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
