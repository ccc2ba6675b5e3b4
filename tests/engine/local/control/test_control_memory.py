"""ControlNets share the budgets of the models: what they hold counts, and placing one unloads
the least recently used models it does not run with."""

from __future__ import annotations

from engine.local.memory.cache import PipelineCache
from engine.local.memory.recipe import GiB
from engine.local.options import ModelSpec
from tests.engine.local.memory.test_cache import FakeGPU, on_gpu


def test_a_controlnet_makes_room_by_unloading_models_it_does_not_run_with() -> None:
    gpu = FakeGPU({"a": on_gpu(8), "b": on_gpu(8)})
    beside = [0]
    specs = {name: ModelSpec(source=f"/models/{name}") for name in gpu.recipes}
    cache = PipelineCache(
        specs, gpu.load, gpu.plan, 4, max_gpu_bytes=20 * GiB, beside=lambda: (beside[0], 0)
    )
    cache.get("a")
    cache.get("b")
    cache.make_room(3 * GiB, 0, keep="a")  # 8 + 8 + 1 working + 3 fits 20
    assert cache.loaded == ["a", "b"]
    cache.make_room(4 * GiB, 0, keep="a")
    assert cache.loaded == ["a"]  # b was used more recently, but a runs with the ControlNet
    beside[0] = 4 * GiB
    assert cache.held == (12 * GiB, 0)
