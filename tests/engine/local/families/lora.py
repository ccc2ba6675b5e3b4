"""A random LoRA on a tiny pipeline's transformer, saved in diffusers format."""

from __future__ import annotations

from pathlib import Path

import torch


def build_transformer_lora(
    pipeline_class: type, pipe_folder: Path, out: Path, target_modules: list[str], seed: int
) -> Path:
    """A LoRA on ``target_modules`` of the transformer of the pipeline in ``pipe_folder``,
    filled with random values (peft starts it as a no-op), saved with the pipeline class's own
    ``save_lora_weights``. Returns the ``pytorch_lora_weights.safetensors`` path."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = pipeline_class.from_pretrained(pipe_folder)
    transformer = pipe.transformer
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=target_modules))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in transformer.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    layers = get_peft_model_state_dict(transformer, save_embedding_layers=False)
    out.mkdir(parents=True, exist_ok=True)
    pipeline_class.save_lora_weights(out, transformer_lora_layers=layers)
    return out / "pytorch_lora_weights.safetensors"
