"""Loading pipelines (a diffusers folder, a hub repo id, a single-file checkpoint, a
single-file transformer beside a folder) the way their memory recipe says. Used only from the
engine's own thread; engine/local/memory/cache.py keeps the recently used ones."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import diffusers
import torch
import transformers
from diffusers import AutoencoderTiny
from safetensors.torch import load_file

from engine.local.families import Family
from engine.local.hub import ModelLoadError, fetch
from engine.local.memory.load import held, pipeline_arguments, place, sibling
from engine.local.memory.recipe import Recipe
from engine.local.options import ModelSpec
from engine.local.speed import Speed, tune
from engine.types import CANVAS_WORDS, Mode

log = logging.getLogger(__name__)

# Loading bars belong to a terminal, not to the bot's log; loading is logged once when done.
diffusers.utils.logging.disable_progress_bar()
transformers.utils.logging.disable_progress_bar()


__all__ = ["ModelLoadError", "load_model", "load_tiny_decoder", "load_upscaler"]


@dataclass
class LoadedModel:
    name: str
    spec: ModelSpec
    family: Family
    text2img: Any
    image2img: Any  # None where the family has no img2img pipeline
    scheduler_config: Any
    default_scheduler: Any
    bytes: int
    tiny_decoder: Any = None
    recipe: Recipe = field(default_factory=lambda: Recipe("gpu"))
    gpu_bytes: int = 0  # what it holds on the GPU and in RAM between runs
    ram_bytes: int = 0
    speed: Speed = field(default_factory=Speed)
    runtime: Any = None  # the same model on another runtime (OpenVINO), where it runs there
    # Its edit, inpaint and outpaint pipelines over the same modules (those it lacks absent).
    canvas: dict[Mode, Any] = field(default_factory=dict)

    def pipeline(self, mode: Mode) -> Any:
        """The pipeline that runs ``mode``, or None where the family has none."""
        if mode is Mode.TXT2IMG:
            return self.text2img
        if mode in (Mode.IMG2IMG, Mode.UPSCALE):
            return self.image2img
        return self.canvas.get(mode)


def load_model(
    name: str,
    spec: ModelSpec,
    family: Family,
    *,
    device: torch.device,
    dtype: torch.dtype,
    cache_dir: str | None,
    compile_unet: bool,
    recipe: Recipe | None = None,
    loras: bool = False,
) -> LoadedModel:
    recipe = recipe or Recipe("cpu" if device.type == "cpu" else "gpu")
    try:
        pipe = _from_source(spec, family, dtype, cache_dir, recipe)
    except ModelLoadError as err:
        raise ModelLoadError(f"Cannot load model {name}: {err}") from err
    except Exception as err:
        hint = ""
        if spec.kind == "repo":
            hint = " (the first use downloads it: is the hub reachable and is there disk space?)"
        raise ModelLoadError(f"Cannot load model {name} from {spec.source}{hint}: {err}") from err
    place(pipe, recipe, device, dtype)
    pipe.set_progress_bar_config(disable=True)
    speed = tune(pipe, name, spec, family, compile_all=compile_unet, loras=loras)
    tiny = None
    if spec.tiny_decoder is not None:
        tiny = load_tiny_decoder(spec.tiny_decoder, pipe.vae, family, cache_dir).to(device, dtype)
    by_mode = siblings(pipe, family)
    canvas = {mode: by_mode[mode] for mode in CANVAS_WORDS if mode in by_mode}
    gpu, ram = held(*pipe.components.values(), tiny)
    log.info(
        "Loaded model %s (%s, %s, %.0f MB) on %s: %s, %.0f MB on the GPU, %.0f MB in RAM",
        name,
        family.label,
        type(pipe).__name__,
        (gpu + ram) / 2**20,
        device,
        recipe.summary,
        gpu / 2**20,
        ram / 2**20,
    )
    return LoadedModel(
        name=name,
        spec=spec,
        family=family,
        text2img=pipe,
        image2img=by_mode.get(Mode.IMG2IMG),
        canvas=canvas,
        scheduler_config=pipe.scheduler.config,
        default_scheduler=pipe.scheduler,
        bytes=gpu + ram,
        tiny_decoder=tiny,
        recipe=recipe,
        gpu_bytes=gpu,
        ram_bytes=ram,
        speed=speed,
    )


def siblings(pipe: Any, family: Family) -> dict[Mode, Any]:
    """The family's pipeline for each mode it runs, one object per class: the loaded one where
    the class is its own (a dedicated inpainting checkpoint), else a sibling over its modules."""
    by_class = {family.text2img: pipe}
    by_mode = {}
    for mode in Mode:
        class_name = family.pipeline(mode)
        if class_name is None:
            continue
        if class_name not in by_class:
            by_class[class_name] = sibling(pipe, class_name)
            by_class[class_name].set_progress_bar_config(disable=True)
        by_mode[mode] = by_class[class_name]
    return by_mode


def _from_source(
    spec: ModelSpec, family: Family, dtype: torch.dtype, cache_dir: str | None, recipe: Recipe
) -> Any:
    """The family's own text-to-image pipeline class, loaded from a folder, a cached or
    downloaded hub repo, or one checkpoint file beside a folder of its configs; quantized and
    with a single-file transformer as the recipe and settings say."""
    cls = getattr(diffusers, family.text2img)
    if spec.kind == "single_file":
        assert spec.config is not None
        return cls.from_single_file(
            str(Path(spec.source).expanduser()), config=spec.config, dtype=dtype
        )
    folder = Path(spec.source).expanduser()
    if spec.kind == "repo":
        folder = fetch(spec.source, spec.variant, cache_dir)
    transformer = Path(spec.transformer).expanduser() if spec.transformer else None
    extra = pipeline_arguments(transformer, family, recipe, dtype, folder)
    variant = spec.variant if spec.kind == "repo" else None
    return cls.from_pretrained(str(folder), dtype=dtype, variant=variant, **extra)


TINY_DECODER_HINT = (
    "A hub id is downloaded from the Hugging Face hub on first use: run the bot once where "
    "the hub is reachable, or point tiny_decoder at a local TAESD folder or .safetensors "
    'file, or remove tiny_decoder and set decoder = "full" to decode with the model\'s own VAE'
)


def load_tiny_decoder(source: str, vae: Any, family: Family, cache_dir: str | None) -> Any:
    """A TAESD-style decoder (diffusers ``AutoencoderTiny``) from a hub id, a folder or a
    single file (diffusers keys, or the original decoder-only layout), checked against the
    model it will decode for."""
    if family.tiny_decoder is None:
        raise ModelLoadError(
            f"{family.label} has no TAESD-style decoder the engine can use: remove "
            "tiny_decoder from its settings (previews then come from its own autoencoder)"
        )
    try:
        if source.endswith(".safetensors"):
            tiny = _tiny_from_file(Path(source).expanduser())
        else:
            path = Path(source).expanduser()
            if not path.is_dir():
                path = fetch(source, None, cache_dir, "tiny decoder")
            tiny = AutoencoderTiny.from_pretrained(str(path))
    except ModelLoadError as err:
        raise ModelLoadError(
            f"Cannot load the tiny decoder {source}: {err}. {TINY_DECODER_HINT}"
        ) from err
    except Exception as err:
        raise ModelLoadError(
            f"Cannot load the tiny decoder {source}: {err}. {TINY_DECODER_HINT}"
        ) from err
    wanted = vae.config.latent_channels
    if tiny.config.latent_channels != wanted:
        raise ModelLoadError(
            f"The tiny decoder {source} decodes {tiny.config.latent_channels}-channel latents; "
            f"this model makes {wanted}-channel ones."
        )
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    tiny_scale = tiny.config.upsampling_scaling_factor ** (len(tiny.config.num_decoder_blocks) - 1)
    if tiny_scale != scale:
        raise ModelLoadError(
            f"The tiny decoder {source} upscales latents {tiny_scale}x; this model's VAE {scale}x."
        )
    named_xl = "xl" in Path(source).name.lower()
    if family.unet and named_xl != ("xl" in family.tiny_decoder):
        raise ModelLoadError(
            f"The tiny decoder {source} looks made for {'SDXL' if named_xl else 'SD 1.x/2.x'}, "
            f"but the model is {family.label} (use {family.tiny_decoder})."
        )
    return tiny.eval()


def _tiny_from_file(path: Path) -> Any:
    """Single files hold the standard TAESD architecture, as every published one does."""
    state = load_file(str(path))
    if not any(key.startswith(("decoder.", "encoder.")) for key in state):
        state = {f"decoder.layers.{key}": value for key, value in state.items()}
    tiny: Any = AutoencoderTiny()
    missing, _ = tiny.load_state_dict(state, strict=False)
    if any(key.startswith("decoder.") for key in missing):
        raise ValueError("the file does not hold a complete tiny decoder")
    return tiny


UPSCALER_FACTOR = 4


def load_upscaler(
    source: str, device: torch.device, dtype: torch.dtype, cache_dir: str | None
) -> Any:
    """A dedicated upscaler (Stable Diffusion x4), kept loaded beside the LRU of models."""
    pipe = diffusers.StableDiffusionUpscalePipeline.from_pretrained(
        source, dtype=dtype, cache_dir=cache_dir
    )
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.enable_tiling()  # outputs are four times the input: decode in tiles
    return pipe
