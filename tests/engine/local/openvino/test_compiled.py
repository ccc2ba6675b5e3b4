"""A part's compiled static shapes: one per input shape, the least recently used dropped past
the limit, each giving the model's own results."""

from __future__ import annotations

import numpy as np
import pytest

from engine.local.openvino.modules import Compiled

ov = pytest.importorskip("openvino", reason="the openvino extra is not installed")


def doubler() -> object:
    """A model with a dynamic input shape: x -> 2x."""
    from openvino import opset13 as ops

    x = ops.parameter(ov.PartialShape([-1, -1]), ov.Type.f32, name="x")
    return ov.Model([ops.multiply(x, ops.constant(np.float32(2.0)))], [x], "doubler")


def test_each_shape_is_compiled_once_and_the_oldest_dropped_past_the_limit():
    compiled = Compiled(ov.Core(), doubler(), {}, keep=2, label="doubler")
    ones = np.ones((1, 3), np.float32)

    assert np.array_equal(compiled(ones), 2 * ones)
    assert np.array_equal(compiled(np.ones((2, 2), np.float32)), np.full((2, 2), 2.0))
    compiled(ones)  # the 1x3 shape is now the most recently used
    assert np.array_equal(compiled(np.ones((4, 1), np.float32)), np.full((4, 1), 2.0))

    assert compiled.shapes == [((1, 3),), ((4, 1),)]
