"""Loaded models, least recently used first out, bounded by count and by what they hold on the
GPU and in RAM. Used only from the engine's own thread."""

from __future__ import annotations

import gc
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from engine.local.hub import ModelLoadError
from engine.local.memory.recipe import GiB, Recipe
from engine.local.options import ModelSpec

if TYPE_CHECKING:
    from engine.local.pipelines import LoadedModel

log = logging.getLogger(__name__)

# (name, settings, bytes the cache can free on the GPU by unloading the others) -> recipe
Planner = Callable[[str, ModelSpec, int], Recipe]
Loader = Callable[[str, ModelSpec, Recipe], "LoadedModel"]


class PipelineCache:
    """A model is admitted when, with the models kept, the weights they hold on the GPU plus
    the largest working memory of a run fit the GPU budget, and their weights in RAM fit the
    RAM budget (a budget of 0 is no bound). Before loading, the recipe's estimates stand for
    the new model; once loaded, what it really holds does."""

    def __init__(
        self,
        specs: dict[str, ModelSpec],
        loader: Loader,
        planner: Planner,
        max_models: int,
        max_gpu_bytes: int = 0,
        max_ram_bytes: int = 0,
        beside: Callable[[], tuple[int, int]] | None = None,
    ):
        self._specs = specs
        self._beside = beside  # what models beside the pipelines hold (ControlNets)
        self._loader = loader
        self._planner = planner
        self._max_models = max_models
        self._max_gpu = max_gpu_bytes
        self._max_ram = max_ram_bytes
        self._loaded: OrderedDict[str, LoadedModel] = OrderedDict()

    @property
    def loaded(self) -> list[str]:
        return list(self._loaded)

    @property
    def held(self) -> tuple[int, int]:
        """(GPU bytes, RAM bytes) the loaded models, and the models beside them, hold."""
        models = self._loaded.values()
        gpu, ram = self._beside() if self._beside is not None else (0, 0)
        return gpu + sum(m.gpu_bytes for m in models), ram + sum(m.ram_bytes for m in models)

    def make_room(self, gpu: int, ram: int, keep: str) -> None:
        """Unload the least recently used models other than ``keep`` until ``gpu`` and ``ram``
        more bytes fit the budgets (a model beside the pipelines is about to be placed)."""

        def fits() -> bool:
            held_gpu, held_ram = self.held
            recipes = [m.recipe for m in self._loaded.values()]
            most_working = max((recipe.working for recipe in recipes), default=0)
            if self._max_gpu and held_gpu + gpu + most_working > self._max_gpu:
                return False
            return not (self._max_ram and held_ram + ram > self._max_ram)

        self._evict(fits, keep=keep)

    def get(self, name: str) -> LoadedModel:
        model = self._loaded.get(name)
        if model is not None:
            self._loaded.move_to_end(name)
            return model
        spec = self._specs[name]
        recipe = self._planner(name, spec, self.held[0])
        self._refuse_if_alone_too_big(name, recipe)
        self._evict(lambda: self._fits(recipe))
        model = self._loader(name, spec, recipe)
        self._loaded[name] = model
        self._evict(lambda: self._fits(None), keep=name)
        return model

    def clear(self) -> None:
        self._loaded.clear()
        _release_memory()

    def _fits(self, new: Recipe | None) -> bool:
        """Whether the loaded models, and the new one where there is one, fit the budgets."""
        recipes = [m.recipe for m in self._loaded.values()] + ([new] if new else [])
        if len(recipes) > self._max_models:
            return False
        held_gpu, held_ram = self.held
        if new is not None:
            held_gpu, held_ram = held_gpu + new.gpu, held_ram + new.ram
        most_working = max(recipe.working for recipe in recipes) if recipes else 0
        if self._max_gpu and held_gpu + most_working > self._max_gpu:
            return False
        return not (self._max_ram and held_ram > self._max_ram)

    def _refuse_if_alone_too_big(self, name: str, recipe: Recipe) -> None:
        """Weights that cannot fit even with every other model unloaded. A run's working
        memory over the budget is left to try: it is an estimate, and the run reports an
        out-of-memory error in words if it is right."""
        if self._max_gpu and recipe.gpu > self._max_gpu:
            raise ModelLoadError(
                f"Model {name} keeps about {_gib(recipe.gpu)} of weights on the GPU with "
                f"{recipe.summary}, over the GPU budget of {_gib(self._max_gpu)} "
                "(max_gpu_memory_gb, else the VRAM free at start): set its memory = "
                '"auto" (or an offload), or quantize it'
            )
        if self._max_ram and recipe.ram > self._max_ram:
            raise ModelLoadError(
                f"Model {name} needs about {_gib(recipe.ram)} of RAM with {recipe.summary}, "
                f"over max_model_memory_gb = {self._max_ram / GiB:g}: raise it, or quantize "
                "the model (quantize, quantize_text_encoders, a .gguf transformer)"
            )

    def _evict(self, fits: Callable[[], bool], keep: str | None = None) -> None:
        evicted = False
        while not fits():
            oldest = next((n for n in self._loaded if n != keep), None)
            if oldest is None:
                break
            del self._loaded[oldest]
            log.info("Unloaded model %s to make room", oldest)
            evicted = True
        if evicted:
            _release_memory()


def _gib(size: float) -> str:
    return f"{size / GiB:.1f} GiB"


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
