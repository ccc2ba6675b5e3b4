"""The real models' approximate sizes, and what ``memory = "auto"`` picks for each on the cards
owners have. docs/memory.md's tables are this module's output:
``python -m engine.local.memory.catalogue``."""

from __future__ import annotations

from dataclasses import dataclass

from engine.local.families import by_key
from engine.local.hub import ModelLoadError
from engine.local.memory.recipe import GiB, Hardware, Recipe, Weights, choose_recipe

BILLION = 1e9
CARDS = (8, 12, 16, 24, 48)  # GB on the box
# What a card reports free with the driver's CUDA context and nothing else on it.
CONTEXT = int(0.6 * GiB)
DEFAULT_BACKENDS = frozenset({"torchao", "gguf"})  # the `local` extra installs these
WITH_BITSANDBYTES = DEFAULT_BACKENDS | {"bitsandbytes"}


@dataclass(frozen=True)
class RealModel:
    """Parameter counts in billions, from the model cards and the published checkpoints'
    tensor shapes, rounded; weights are 2 bytes a parameter in bf16."""

    name: str
    family: str
    denoiser: float
    text_encoders: tuple[tuple[str, float], ...]
    vae: float
    # Two of its largest blocks and the layers outside them, as a share of the denoiser.
    group_share: float
    gguf: float | None = None  # a GGUF transformer file's size in GB, instead of bf16 weights

    def weights(self) -> Weights:
        denoiser = self.gguf * BILLION if self.gguf else self.denoiser * BILLION * 2
        return Weights(
            denoiser=int(denoiser),
            text_encoders=tuple(int(size * BILLION * 2) for _, size in self.text_encoders),
            vae=int(self.vae * BILLION * 2),
            gguf=self.gguf is not None,
            group_share=self.group_share,
        )

    @property
    def size(self) -> tuple[int, int]:
        family = by_key(self.family)
        return family.width, family.height


CLIP_L = ("CLIP-L", 0.123)
CLIP_G = ("OpenCLIP-G", 0.695)
T5_XXL = ("T5-XXL encoder", 4.76)
SD_VAE = 0.084  # the 4- and 16-channel x8 autoencoders alike

# Group shares: FLUX.1 has 19 double blocks of ~0.34B and 38 single ones of ~0.14B; Chroma
# the same without modulation; Qwen-Image 60 blocks; SD 3.5 Large 38, Medium 24; Z-Image 30
# and 4 refiners; FLUX.2 [klein] 5 or 8 double and 20 or 24 single; Sana 20. A UNet's largest
# up block is about 40 % of it.
REAL_MODELS = (
    RealModel("Stable Diffusion 1.5", "sd", 0.86, (CLIP_L,), SD_VAE, 0.6),
    RealModel("SDXL", "sdxl", 2.57, (CLIP_L, CLIP_G), SD_VAE, 0.6),
    RealModel("SD 3.5 Medium", "sd3", 2.5, (CLIP_L, CLIP_G, T5_XXL), SD_VAE, 0.1),
    RealModel("SD 3.5 Large", "sd3", 8.1, (CLIP_L, CLIP_G, T5_XXL), SD_VAE, 0.07),
    RealModel("FLUX.1 [schnell]", "flux1-schnell", 11.9, (CLIP_L, T5_XXL), SD_VAE, 0.07),
    RealModel("FLUX.1 [dev]", "flux1", 11.9, (CLIP_L, T5_XXL), SD_VAE, 0.07),
    RealModel("FLUX.1 [dev] GGUF Q8_0", "flux1", 11.9, (CLIP_L, T5_XXL), SD_VAE, 0.07, 12.7),
    RealModel("FLUX.1 [dev] GGUF Q4_K_S", "flux1", 11.9, (CLIP_L, T5_XXL), SD_VAE, 0.07, 6.8),
    RealModel("FLUX.1 Kontext [dev]", "flux1-kontext", 11.9, (CLIP_L, T5_XXL), SD_VAE, 0.07),
    RealModel("FLUX.1 Fill [dev]", "flux1-fill", 11.9, (CLIP_L, T5_XXL), SD_VAE, 0.07),
    RealModel("Chroma", "chroma", 8.9, (T5_XXL,), SD_VAE, 0.07),
    RealModel("Qwen-Image", "qwen-image", 20.4, (("Qwen2.5-VL 7B", 8.3),), 0.127, 0.07),
    RealModel("Z-Image-Turbo", "z-image", 6.15, (("Qwen3 4B", 4.0),), SD_VAE, 0.08),
    RealModel("FLUX.2 [klein] 4B", "flux2-klein", 4.0, (("Qwen3 4B", 4.0),), SD_VAE, 0.15),
    RealModel("FLUX.2 [klein] 9B", "flux2-klein", 9.0, (("Qwen3 8B", 8.2),), SD_VAE, 0.15),
    RealModel("Sana 1600M", "sana", 1.6, (("Gemma 2 2B", 2.6),), 0.32, 0.12),
    RealModel("Sana-Sprint 1.6B", "sana-sprint", 1.6, (("Gemma 2 2B", 2.6),), 0.32, 0.12),
)


def card(gigabytes: int, backends: frozenset[str] = DEFAULT_BACKENDS) -> Hardware:
    """A recent NVIDIA card of that size (bf16 and fp8) with nothing else loaded."""
    return Hardware("cuda", gigabytes * GiB - CONTEXT, bf16=True, fp8=True, backends=backends)


def auto(model: RealModel, gigabytes: int, backends: frozenset[str]) -> Recipe | None:
    """What auto picks at the family's default size; None where nothing fits."""
    try:
        return choose_recipe(
            by_key(model.family), model.weights(), model.size, card(gigabytes, backends)
        )
    except ModelLoadError:
        return None


def cell(recipe: Recipe | None) -> str:
    if recipe is None:
        return "does not fit"
    return f"{recipe.summary} ({recipe.peak / GiB:.1f})"


def markdown(backends: frozenset[str] = DEFAULT_BACKENDS) -> str:
    """One row a model: its weights, then auto's recipe and estimated peak GiB per card."""
    head = ["model", "weights (bf16 unless a file)", *(f"{gb} GB" for gb in CARDS)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for model in REAL_MODELS:
        weights = model.weights()
        first = f"{model.gguf:g} GB file" if model.gguf else f"{model.denoiser:g}B"
        parts = [first] + [f"{name} {size:g}B" for name, size in model.text_encoders]
        row = [
            f"{model.name} ({model.size[0]}²)" if model.size[0] == model.size[1] else model.name,
            f"{weights.total / GiB:.1f} GiB: {' + '.join(parts)}",
            *(cell(auto(model, gb, backends)) for gb in CARDS),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    print("With the `local` extra (torchao, gguf):\n")
    print(markdown())
    print("\nWith bitsandbytes installed as well:\n")
    print(markdown(WITH_BITSANDBYTES))


if __name__ == "__main__":
    main()
