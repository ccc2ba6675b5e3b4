"""The model cache counts what each model holds on the GPU and in RAM, evicts the least
recently used to stay within each budget, and refuses a model that cannot fit alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.local import LocalProvider
from engine.local.families import by_key
from engine.local.hub import ModelLoadError
from engine.local.memory.cache import PipelineCache
from engine.local.memory.load import stored_bytes
from engine.local.memory.recipe import GiB, Recipe
from engine.local.options import ModelSpec
from engine.local.pipelines import LoadedModel
from engine.registry import ProviderConfig, build_provider


def engine(models: dict[str, dict[str, Any]], **options: Any) -> LocalProvider:
    small = {"width": 64, "height": 64, "steps": 2}
    settings = {name: {**small, **model} for name, model in models.items()}
    provider = build_provider(
        "local",
        ProviderConfig("local", {"device": "cpu", "models": settings, **options}),
    )
    assert isinstance(provider, LocalProvider)
    return provider


def stored(model: LoadedModel) -> int:
    modules = [c for c in model.text2img.components.values() if hasattr(c, "parameters")]
    tensors = {id(t): t for m in modules for t in [*m.parameters(), *m.buffers()]}
    return sum(stored_bytes(t) for t in tensors.values())


async def test_a_model_on_the_cpu_holds_its_weights_in_ram_and_quantized_ones_hold_less(
    flux: Path,
):
    provider = engine(
        {"plain": {"source": str(flux)}, "int8": {"source": str(flux), "quantize": "torchao_int8"}}
    )
    plain = provider.cache.get("plain")
    int8 = provider.cache.get("int8")
    assert (plain.gpu_bytes, int8.gpu_bytes) == (0, 0)
    assert plain.ram_bytes == stored(plain) == plain.bytes
    assert plain.recipe.ram == pytest.approx(plain.ram_bytes, rel=0.05)  # headers vs loaded
    transformer = sum(stored_bytes(p) for p in plain.text2img.transformer.parameters())
    quantized = sum(stored_bytes(p) for p in int8.text2img.transformer.parameters())
    assert quantized < transformer * 0.6
    assert int8.ram_bytes == plain.ram_bytes - transformer + quantized
    assert provider.cache.held == (0, plain.ram_bytes + int8.ram_bytes)
    await provider.close()


async def test_the_ram_budget_unloads_the_least_recently_used_model_first(flux: Path):
    one = engine({"a": {"source": str(flux)}}).cache.get("a").ram_bytes
    provider = engine(
        {"a": {"source": str(flux)}, "b": {"source": str(flux)}},
        max_model_memory_gb=1.5 * one / GiB,
    )
    provider.cache.get("a")
    provider.cache.get("b")
    assert provider.cache.loaded == ["b"]
    assert provider.cache.held == (0, one)
    await provider.close()


async def test_a_model_over_the_ram_budget_alone_is_refused_by_name(flux: Path):
    provider = engine({"flux": {"source": str(flux)}}, max_model_memory_gb=0.0001)
    with pytest.raises(ModelLoadError, match=r"Model flux needs about .* of RAM .* over max_model"):
        await provider.start()
    assert provider.cache.loaded == []
    await provider.close()


class FakeGPU:
    """A GPU's side of the cache without one: recipes as planned, models holding what their
    recipe says (the engine measures the real bytes; no GPU here)."""

    def __init__(self, recipes: dict[str, Recipe]) -> None:
        self.recipes = recipes
        self.reclaimable: list[int] = []

    def plan(self, name: str, spec: ModelSpec, reclaimable: int) -> Recipe:
        self.reclaimable.append(reclaimable)
        return self.recipes[name]

    def load(self, name: str, spec: ModelSpec, recipe: Recipe) -> LoadedModel:
        return LoadedModel(
            name, spec, by_key("flux1"), None, None, None, None, recipe.gpu + recipe.ram, None,
            recipe, recipe.gpu, recipe.ram,
        )  # fmt: skip

    def cache(self, budget: int, max_models: int = 4) -> PipelineCache:
        specs = {name: ModelSpec(source=f"/models/{name}") for name in self.recipes}
        return PipelineCache(specs, self.load, self.plan, max_models, max_gpu_bytes=budget)


def on_gpu(weights: float, working: float = 1.0) -> Recipe:
    return Recipe("gpu", gpu=int(weights * GiB), peak=int((weights + working) * GiB))


def test_the_gpu_budget_counts_weights_and_the_largest_working_memory():
    gpu = FakeGPU({"a": on_gpu(8), "b": on_gpu(8), "c": on_gpu(2, working=9)})
    cache = gpu.cache(budget=20 * GiB)
    cache.get("a")
    cache.get("b")  # 8 + 8 + 1 working
    assert cache.loaded == ["a", "b"]
    cache.get("a")
    cache.get("c")  # 8 + 8 + 2 weights, and c's run needs 9 more: b goes first
    assert cache.loaded == ["a", "c"]
    assert cache.held == (10 * GiB, 0)
    assert gpu.reclaimable == [0, 8 * GiB, 16 * GiB]


def test_an_offloaded_model_holds_no_vram_between_runs_and_fits_beside_others():
    offloaded = Recipe("model_offload", peak=10 * GiB, ram=30 * GiB)
    gpu = FakeGPU({"sdxl": on_gpu(6), "flux": offloaded})
    cache = gpu.cache(budget=20 * GiB)
    cache.get("sdxl")
    cache.get("flux")
    assert cache.loaded == ["sdxl", "flux"]
    assert cache.held == (6 * GiB, 30 * GiB)


def test_weights_over_the_gpu_budget_alone_are_refused_with_the_fix():
    gpu = FakeGPU({"small": on_gpu(2), "flux": on_gpu(31)})
    cache = gpu.cache(budget=23 * GiB)
    cache.get("small")
    with pytest.raises(ModelLoadError) as caught:
        cache.get("flux")
    message = str(caught.value)
    assert "Model flux keeps about 31.0 GiB of weights on the GPU with gpu" in message
    assert "GPU budget of 23.0 GiB" in message and 'memory = "auto"' in message
    assert cache.loaded == ["small"]  # nothing unloaded for a model that cannot come


def test_the_count_bound_still_holds():
    gpu = FakeGPU({"a": on_gpu(1), "b": on_gpu(1), "c": on_gpu(1)})
    cache = gpu.cache(budget=0, max_models=2)
    for name in ("a", "b", "c"):
        cache.get(name)
    assert cache.loaded == ["b", "c"]
