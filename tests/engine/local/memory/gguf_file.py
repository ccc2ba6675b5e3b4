"""Writing a transformer's weights as a GGUF file with the ``gguf`` package, the way the
community's converters do: each 2-D weight whose rows split into 32-value blocks quantized to
Q8_0, everything else (biases, norms, odd shapes) kept in F32.

The keys stay in diffusers' layout. ``from_single_file`` converts a checkpoint only when its
keys differ from the model's; FLUX.1's converter (the original Black Forest Labs layout of the
community's ``flux1-dev-Q4_K_S.gguf`` files) splits fused weights at the real model's width of
3072, which a tiny model does not have, so a tiny file in that layout cannot be read."""

from __future__ import annotations

from pathlib import Path

import gguf
import torch
from gguf.quants import quantize


def write_gguf(
    state: dict[str, torch.Tensor],
    path: Path,
    qtype: gguf.GGMLQuantizationType = gguf.GGMLQuantizationType.Q8_0,
) -> Path:
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    writer = gguf.GGUFWriter(str(path), arch="flux")
    for name, tensor in state.items():
        values = tensor.float().numpy()
        if values.ndim == 2 and values.shape[-1] % block == 0:
            writer.add_tensor(name, quantize(values, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
