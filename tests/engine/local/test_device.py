"""A device asked for by name that the machine lacks stops start-up, naming the fix."""

from __future__ import annotations

import pytest
import torch

from engine import ProviderConfigError
from engine.registry import ProviderConfig, build_provider


@pytest.mark.parametrize(
    ("device", "probe"),
    [("cuda", "torch.cuda.is_available"), ("mps", "torch.backends.mps.is_available")],
)
def test_a_device_that_is_not_there_fails_start_up_instead_of_falling_back(
    monkeypatch: pytest.MonkeyPatch, device: str, probe: str
):
    monkeypatch.setattr(probe, lambda: False)
    with pytest.raises(ProviderConfigError) as caught:
        build_provider("local", ProviderConfig("local", {"device": device}))
    assert caught.value.key == "device"
    assert "not available here" in str(caught.value)
    assert '"cpu"' in str(caught.value)


def test_auto_takes_the_cpu_when_there_is_no_gpu(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr("torch.backends.mps.is_available", lambda: False)
    provider = build_provider("local", ProviderConfig("local", {"device": "auto"}))
    assert provider.device == torch.device("cpu")  # type: ignore[attr-defined]


def test_auto_precision_is_the_familys_half_on_a_gpu_and_fp32_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.local.device import pick_dtype

    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert pick_dtype("auto", cuda, "bfloat16") is torch.bfloat16  # transformers overflow fp16
    assert pick_dtype("auto", cuda, "float16") is torch.float16  # the UNet families
    assert pick_dtype("auto", torch.device("cpu"), "bfloat16") is torch.float32
    assert pick_dtype("float32", cuda, "bfloat16") is torch.float32  # a setting wins
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)  # pre-Ampere
    assert pick_dtype("auto", cuda, "bfloat16") is torch.float16
