"""A job with references on a model that runs on OpenVINO runs on PyTorch, where the adapters
load, and the log says so."""

from __future__ import annotations

import logging

import pytest

from engine import CancelToken, GenerationRequest, Reference, ReferenceKind
from tests.engine.local.conftest import TinyModels
from tests.engine.local.openvino.conftest import Converted, provider
from tests.engine.local.test_references import png
from tests.engine.local.tiny_adapter import build_ip_adapter

openvino = pytest.importorskip("openvino", reason="the openvino extra is not installed")


async def test_a_job_with_references_runs_on_pytorch_and_the_log_says_so(
    converted: Converted,
    tiny: TinyModels,
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = build_ip_adapter(tiny.sd, tmp_path_factory.mktemp("adapter"))
    adapter = {
        "family": "sd",
        "source": str(folder),
        "subfolder": "models",
        "weight_name": "ip-adapter.safetensors",
    }
    engine = provider(converted, "auto", adapters={"style": adapter})
    request = GenerationRequest(
        "a lighthouse",
        seed=2,
        references=(Reference(ReferenceKind.STYLE, 1.0),),
        reference_images=(png(0),),
    )
    with caplog.at_level(logging.INFO):
        result = await engine.generate(engine.prepare(request), lambda _: None, CancelToken())
    assert result.images
    assert "A job on tiny with references runs on PyTorch, not OpenVINO" in caplog.text
    await engine.close()
