"""The other diffusion-transformer families: Stable Diffusion 3.5, Qwen-Image, Z-Image, Sana
and Sana-Sprint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.local.families import latents
from engine.local.families.profile import ControlClasses, Family
from engine.local.samplers import FLOW_SAMPLERS


def _at_the_asked_size(steps: int) -> Mapping[str, Any]:
    """Sana's pipelines would draw at the nearest 1024 px aspect-ratio bucket and resize to the
    asked size; drawn at the asked size, as every other family is, the cost and the previews
    are those of the size a member chose."""
    return {"use_resolution_binning": False}


def _sprint_arguments(steps: int) -> Mapping[str, Any]:
    """Sana-Sprint's published two-step schedule has a fixed middle timestep; any other
    number of steps spaces them evenly."""
    middle = {} if steps == 2 else {"intermediate_timesteps": None}
    return {**_at_the_asked_size(steps), **middle}


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
