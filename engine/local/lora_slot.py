"""LoRAs on a compiled transformer without compiling again: one adapter, the slot, on every
linear layer, added before compilation and kept. A job's LoRAs are loaded as usual, copied into
the slot's weights (side by side along the rank, each scaled by its weight) and removed; the slot
is zeroed after the call. The compiled blocks meet the same modules on every call, with or
without LoRAs, so their guards hold."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from peft.tuners.lora import LoraLayer

from engine.errors import ProviderError
from engine.local.lora_families import lora_kind

log = logging.getLogger(__name__)

SLOT = "slot"


class LoraDoesNotFit(Exception):
    """The job's LoRAs cannot be written into the slot; the sentence says why."""


def load_lora(pipe: Any, path: Path, adapter: str, model: str) -> None:
    """A LoRA file, or the diffusers folder that holds pytorch_lora_weights.safetensors. One
    that diffusers cannot load, or none of whose weights belongs to a layer of ``model``, is a
    ProviderError that names it and says why."""
    source = path.parent if path.name == "pytorch_lora_weights.safetensors" else path
    try:
        pipe.load_lora_weights(str(source), adapter_name=adapter)
        if not any(adapter in names for names in pipe.get_list_adapters().values()):
            raise LookupError("none of its weights belongs to a layer of the model")
    except Exception as err:
        log.warning("LoRA %s failed to load on %s", path, model, exc_info=True)
        raise ProviderError(
            f"LoRA {lora_name(path)} can't be applied to {model}: {_why(err, path)}"
        ) from err


def _why(err: Exception, path: Path) -> str:
    """Why diffusers refused a LoRA, in words a member can act on."""
    if isinstance(err, RuntimeError) and "size mismatch" in str(err):
        return "its layers have other sizes (a LoRA for another size or version of this model?)"
    if isinstance(err, LookupError):
        kind = lora_kind(path)
        made = f"{kind.layout} layout, made for {kind.label}"
        return f"none of its weights match this model's layers ({made})"
    return f"diffusers could not load it ({type(err).__name__})"


def lora_name(path: Path) -> str:
    return path.parent.name if path.name == "pytorch_lora_weights.safetensors" else path.stem


class LoraSlot:
    def __init__(self, model: str, transformer: Any, rank: int) -> None:
        targets = [
            name
            for name, module in transformer.named_modules()
            if isinstance(module, torch.nn.Linear)
        ]
        transformer.add_adapter(
            LoraConfig(r=rank, lora_alpha=rank, target_modules=targets), adapter_name=SLOT
        )
        self.model = model
        self.rank = rank
        self._transformer = transformer
        self._layers: dict[str, Any] = {
            name: module
            for name, module in transformer.named_modules()
            if isinstance(module, LoraLayer) and SLOT in module.lora_A
        }
        self._zero()

    @property
    def layers(self) -> int:
        return len(self._layers)

    @contextlib.contextmanager
    def applied(self, pipe: Any, loras: list[tuple[Path, float]]) -> Iterator[None]:
        """The job's LoRAs in the slot for one call; one that does not fit is applied the
        ordinary way instead, and the blocks compile again for that job."""
        loaded: list[str] = []
        try:
            with _quiet_peft():
                for index, (path, _) in enumerate(loras):
                    load_lora(pipe, path, f"job{index}", self.model)
                    loaded.append(f"job{index}")
            if loaded:
                weights = [weight for _, weight in loras]
                try:
                    self._fill(pipe, loaded, weights)
                except LoraDoesNotFit as err:
                    self._zero()
                    log.warning(
                        "LoRA %s does not fit the hot-swap slot of model %s (%s): this job "
                        "compiles the transformer blocks again",
                        ", ".join(lora_name(path) for path, _ in loras),
                        self.model,
                        err,
                    )
                    pipe.set_adapters(loaded, adapter_weights=weights)
                else:
                    self._remove(pipe, loaded)
                    loaded = []
            yield
        finally:
            if loaded:
                self._remove(pipe, loaded)
            self._zero()

    def _fill(self, pipe: Any, names: list[str], weights: list[float]) -> None:
        others = sorted(
            component
            for component, adapters in pipe.get_list_adapters().items()
            if component != "transformer" and set(adapters) & set(names)
        )
        if others:
            raise LoraDoesNotFit(f"it has layers for the {', '.join(others)}")
        used: dict[str, int] = {}
        for layer_name, module in self._transformer.named_modules():
            if not isinstance(module, LoraLayer):
                continue
            layer: Any = module
            for name, weight in zip(names, weights, strict=True):
                if name not in layer.lora_A:
                    continue
                if layer_name not in self._layers:
                    raise LoraDoesNotFit(f"it adapts {layer_name}, which is not a linear layer")
                if layer.use_dora.get(name) or getattr(layer, "lora_bias", {}).get(name):
                    raise LoraDoesNotFit("it is a DoRA or carries LoRA biases")
                down, up = layer.lora_A[name].weight, layer.lora_B[name].weight
                start = used.get(layer_name, 0)
                end = start + down.shape[0]
                if end > self.rank:
                    raise LoraDoesNotFit(
                        f"it needs rank {end} at {layer_name}, above hotswap_rank {self.rank}"
                    )
                scale = layer.scaling[name] * weight
                with torch.no_grad():
                    layer.lora_A[SLOT].weight[start:end].copy_(down)
                    layer.lora_B[SLOT].weight[:, start:end].copy_(up * scale)
                used[layer_name] = end

    def _remove(self, pipe: Any, names: list[str]) -> None:
        """Deletes the job's adapters and makes the slot the one active adapter again, as it
        was when the blocks compiled."""
        with _quiet_peft():
            pipe.delete_adapters(names)
            self._transformer.set_adapter(SLOT)

    def _zero(self) -> None:
        with torch.no_grad():
            for layer in self._layers.values():
                layer.lora_A[SLOT].weight.zero_()
                layer.lora_B[SLOT].weight.zero_()


@contextlib.contextmanager
def _quiet_peft() -> Iterator[None]:
    """peft warns that a second adapter joins the slot, and that deleting the active one
    activates another: both are what the slot intends."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        warnings.filterwarnings("ignore", message="Adapter .* was active which is now deleted")
        yield
