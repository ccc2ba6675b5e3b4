"""The tiny family tests run torch on one thread: their operations are far too small to gain
from two, and with another process on the CPU, two threads wait on each other (a 64x64 image
then takes over a second instead of a few hundredths)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
