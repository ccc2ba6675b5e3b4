"""Tiny Stable Diffusion pipelines built from configs with seeded random weights, saved to
disk so the engine loads them through the real loaders. Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLInpaintPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from safetensors.torch import save_file
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
)

BOS, EOS = 0, 1


def tokenizer(folder: Path) -> CLIPTokenizer:
    """A CLIP tokenizer over single letters: enough to turn any prompt into tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": BOS, "<|endoftext|>": EOS}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77
    )


def text_config() -> CLIPTextConfig:
    return CLIPTextConfig(
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=EOS,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        vocab_size=1000,
        projection_dim=32,
    )


def vae() -> AutoencoderKL:
    return AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
    )


def scheduler() -> EulerDiscreteScheduler:
    return EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )


TWO_LEVEL_UNET = {
    "block_out_channels": (32, 64),
    "layers_per_block": 2,
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
}


def _unet(inpainting: bool, **settings: Any) -> UNet2DConditionModel:
    channels = 9 if inpainting else TWO_LEVEL_UNET["in_channels"]
    return UNet2DConditionModel(**{**TWO_LEVEL_UNET, "in_channels": channels}, **settings)


def build_sd(folder: Path, *, inpainting: bool = False) -> Path:
    """``inpainting``: a dedicated inpainting checkpoint (a 9-channel UNet: latents, mask and
    masked-image latents), saved as the inpaint pipeline it ships as."""
    torch.manual_seed(0)
    unet = _unet(inpainting, cross_attention_dim=32)
    pipeline = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
    pipe = pipeline(
        unet=unet,
        vae=vae(),
        text_encoder=CLIPTextModel(text_config()),
        tokenizer=tokenizer(folder / "_tokenizer"),
        scheduler=scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder


def build_sdxl(folder: Path, *, inpainting: bool = False) -> Path:
    """``inpainting``: as for ``build_sd``."""
    torch.manual_seed(0)
    unet = _unet(
        inpainting,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 time ids x 8 + the 32-wide pooled text
        cross_attention_dim=64,
    )
    pipeline = StableDiffusionXLInpaintPipeline if inpainting else StableDiffusionXLPipeline
    pipe = pipeline(
        unet=unet,
        vae=vae(),
        text_encoder=CLIPTextModel(text_config()),
        text_encoder_2=CLIPTextModelWithProjection(text_config()),
        tokenizer=tokenizer(folder / "_tokenizer"),
        tokenizer_2=tokenizer(folder / "_tokenizer2"),
        scheduler=scheduler(),
    )
    pipe.save_pretrained(folder)
    return folder


def build_lora(pipe_folder: Path, out: Path, seed: int = 1) -> Path:
    """A LoRA on the UNet's attention projections, filled with random values (peft starts it
    as a no-op), saved in diffusers format."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = StableDiffusionPipeline.from_pretrained(pipe_folder)
    pipe.unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in pipe.unet.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    layers = get_peft_model_state_dict(pipe.unet, save_embedding_layers=False)
    out.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(out, unet_lora_layers=layers)
    return out / "pytorch_lora_weights.safetensors"


# Our own diffusers -> original (LDM) key map for the tiny SD 1.x layout above, so the
# single-file loader can be exercised on a checkpoint laid out as real ones are.
RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}


def _unet_prefixes(layers: int, blocks: int, attention_down: list[bool], attention_up: list[bool]):
    prefixes = {
        "time_embedding.linear_1.": "time_embed.0.",
        "time_embedding.linear_2.": "time_embed.2.",
        "conv_in.": "input_blocks.0.0.",
        "conv_norm_out.": "out.0.",
        "conv_out.": "out.2.",
        "mid_block.attentions.0.": "middle_block.1.",
        "mid_block.resnets.0.": "middle_block.0.",
        "mid_block.resnets.1.": "middle_block.2.",
    }
    for i in range(blocks):
        for j in range(layers):
            index = (layers + 1) * i + j + 1
            prefixes[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{index}.0."
            if attention_down[i]:
                prefixes[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{index}.1."
        if i < blocks - 1:
            prefixes[f"down_blocks.{i}.downsamplers.0.conv."] = (
                f"input_blocks.{(layers + 1) * (i + 1)}.0.op."
            )
        for j in range(layers + 1):
            index = (layers + 1) * i + j
            prefixes[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{index}.0."
            if attention_up[i]:
                prefixes[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{index}.1."
        if i < blocks - 1:
            slot = 2 if attention_up[i] else 1
            prefixes[f"up_blocks.{i}.upsamplers.0."] = (
                f"output_blocks.{(layers + 1) * i + layers}.{slot}."
            )
    return prefixes


def _rename(key: str, prefixes: dict[str, str]) -> str:
    for old, new in sorted(prefixes.items(), key=lambda item: -len(item[0])):
        if key.startswith(old):
            rest = key[len(old) :]
            if ".resnets." in old or old.startswith("mid_block.resnets"):
                head, _, tail = rest.partition(".")
                rest = f"{RESNET.get(head, head)}.{tail}"
            return new + rest
    return key


def _vae_key(key: str, blocks: int) -> tuple[str, bool]:
    """Returns the LDM key and whether the weight is an attention projection to reshape."""
    for part in ("encoder", "decoder"):
        for i in range(blocks):
            level = i if part == "encoder" else blocks - 1 - i
            kind = "down" if part == "encoder" else "up"
            for j in range(3):
                key = key.replace(
                    f"{part}.{kind}_blocks.{i}.resnets.{j}.", f"{part}.{kind}.{level}.block.{j}."
                )
            key = key.replace(
                f"{part}.{kind}_blocks.{i}.{kind}samplers.0.",
                f"{part}.{kind}.{level}.{kind}sample.",
            )
    for i in range(2):
        key = key.replace(f"mid_block.resnets.{i}.", f"mid.block_{i + 1}.")
    key = key.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
    attention = "mid_block.attentions.0." in key
    if attention:
        key = key.replace("mid_block.attentions.0.", "mid.attn_1.")
        for old, new in (
            ("group_norm.", "norm."),
            ("to_q.", "q."),
            ("to_k.", "k."),
            ("to_v.", "v."),
            ("to_out.0.", "proj_out."),
        ):
            key = key.replace(old, new)
    return key, attention and key.endswith("weight") and ".norm." not in key


def write_single_file(folder: Path, out: Path) -> Path:
    """The tiny SD 1.x pipeline in ``folder`` as one original-layout .safetensors file."""
    pipe = StableDiffusionPipeline.from_pretrained(folder)
    state: dict[str, torch.Tensor] = {}
    prefixes = _unet_prefixes(2, 2, [False, True], [True, False])
    for key, value in pipe.unet.state_dict().items():
        state["model.diffusion_model." + _rename(key, prefixes)] = value
    for key, value in pipe.vae.state_dict().items():
        ldm, reshape = _vae_key(key, 2)
        state["first_stage_model." + ldm] = value[..., None, None] if reshape else value
    for key, value in pipe.text_encoder.state_dict().items():
        name = key if key.startswith("text_model.") else "text_model." + key
        state["cond_stage_model.transformer." + name] = value
    save_file({key: value.contiguous() for key, value in state.items()}, out)
    return out


def build_safety_checker(folder: Path, flag_everything: bool) -> Path:
    """The diffusers safety checker on a tiny CLIP, with concept thresholds set so that it
    flags every image or none (random weights can judge nothing in between)."""
    from diffusers.pipelines.stable_diffusion.safety_checker import (
        StableDiffusionSafetyChecker,
    )
    from transformers import CLIPConfig, CLIPImageProcessor

    torch.manual_seed(0)
    small = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4}
    config = CLIPConfig(
        text_config={**small, "num_hidden_layers": 2, "vocab_size": 100},
        vision_config={**small, "num_hidden_layers": 2, "image_size": 32, "patch_size": 4},
        projection_dim=32,
    )
    checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-2.0 if flag_everything else 2.0)
        checker.special_care_embeds_weights.fill_(2.0)
    checker.save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(folder)
    return folder


def build_upscaler(folder: Path) -> Path:
    """A tiny Stable Diffusion x4 upscaler (its VAE has three levels, so four times out)."""
    from diffusers import DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=7,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        use_linear_projection=True,
        only_cross_attention=(True, True, False),
        num_class_embeds=100,
    )
    three_levels = AutoencoderKL(
        block_out_channels=[32, 32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        latent_channels=4,
        scaling_factor=0.08333,
    )
    StableDiffusionUpscalePipeline(
        vae=three_levels,
        text_encoder=CLIPTextModel(text_config()),
        tokenizer=tokenizer(folder / "_tokenizer"),
        unet=unet,
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    ).save_pretrained(folder)
    return folder


def build_captioner(folder: Path) -> Path:
    """A tiny BLIP captioning model with a small word-piece vocabulary."""
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "cat", "boat", "sea"]
    (folder / "vocab.txt").write_text("\n".join(words))
    words_tokenizer = BertTokenizer(str(folder / "vocab.txt"), model_max_length=32)
    words_tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    torch.manual_seed(0)
    small = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4}
    config = BlipConfig(
        text_config={
            **small,
            "num_hidden_layers": 2,
            "vocab_size": len(words_tokenizer),
            "bos_token_id": words_tokenizer.bos_token_id,
            "sep_token_id": words_tokenizer.sep_token_id,
            "pad_token_id": words_tokenizer.pad_token_id,
            "max_position_embeddings": 64,
        },
        vision_config={**small, "num_hidden_layers": 2, "image_size": 32, "patch_size": 8},
        projection_dim=32,
        image_text_hidden_size=32,
    )
    model = BlipForConditionalGeneration(config)
    with torch.no_grad():  # random weights may end the caption at once: make the words likelier
        bias = model.text_decoder.cls.predictions.bias
        bias[words_tokenizer.sep_token_id] = -10.0
        bias[5:11] += 5.0
    model.save_pretrained(folder)
    BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
        tokenizer=words_tokenizer,
    ).save_pretrained(folder)
    return folder


def build_tiny_decoder(folder: Path, latent_channels: int = 4) -> Path:
    """An ``AutoencoderTiny`` shaped for the tiny test VAE (one upsampling, so x2)."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny(
        encoder_block_out_channels=(16, 16),
        decoder_block_out_channels=(16, 16),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=latent_channels,
    ).save_pretrained(folder)
    return folder


def write_tiny_decoder_file(folder: Path, out: Path) -> Path:
    """The decoder alone, in the original TAESD file layout (Sequential indices as keys)."""
    from diffusers import AutoencoderTiny

    tiny = AutoencoderTiny.from_pretrained(folder)
    state = {
        key.removeprefix("decoder.layers."): value.contiguous()
        for key, value in tiny.state_dict().items()
        if key.startswith("decoder.layers.")
    }
    save_file(state, out)
    return out
