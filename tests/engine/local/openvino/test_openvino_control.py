"""A job with a control on a model OpenVINO runs goes to PyTorch, where the ControlNet is, and
the log says so."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from engine import CancelToken, GenerationRequest
from engine.types import Control, ControlKind
from tests.engine.local.control.test_controlnet import picture
from tests.engine.local.control.tiny_nets import build_controlnet
from tests.engine.local.openvino.conftest import Converted, provider

pytest.importorskip("openvino", reason="the openvino extra is not installed")
pytestmark = pytest.mark.timeout(600)


async def test_a_controlled_job_runs_on_pytorch_and_the_log_says_so(
    converted: Converted, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    net = build_controlnet(Path(converted.model["source"]), tmp_path / "canny")
    nets = {"canny": {"source": str(net), "family": "sd", "kinds": ["canny"]}}
    engine = provider(converted, "auto", controlnets=nets)
    await engine.start()
    try:
        request = GenerationRequest(
            "a lighthouse", seed=5, control=Control(ControlKind.CANNY), control_image=picture()
        )
        with caplog.at_level(logging.INFO):
            result = await engine.generate(engine.prepare(request), lambda _: None, CancelToken())
        assert "A job with a control map on tiny runs on PyTorch, not OpenVINO" in caplog.text
        assert np.asarray(result.images[0].image).shape == (64, 64, 3)
        assert result.info["control_map"]
    finally:
        await engine.close()
