"""Which runtime a model runs on, as a function of its setting, the device, its family and
whether the openvino extra is installed."""

from __future__ import annotations

import pytest

from engine.local.openvino.options import Choice, choose_runtime


@pytest.mark.parametrize(
    ("setting", "device", "family", "available", "runtime", "reason"),
    [
        ("auto", "cpu", "sd", True, "openvino", 'runtime = "auto" on a CPU'),
        ("openvino", "cpu", "sd", True, "openvino", 'runtime = "openvino" on a CPU'),
        ("torch", "cpu", "sd", True, "torch", 'runtime = "torch"'),
        ("auto", "cpu", "sd", False, "torch", "the openvino extra is not installed"),
        ("auto", "cuda", "sd", True, "torch", "the model runs on cuda"),
        ("auto", "mps", "sd", True, "torch", "the model runs on mps"),
        ("auto", "cpu", "sdxl", True, "torch", "OpenVINO runs SD 1.x/2.x here, not SDXL"),
        ("openvino", "cpu", "flux1", True, "torch", "OpenVINO runs SD 1.x/2.x here, not flux1"),
    ],
)
def test_auto_takes_openvino_on_a_cpu_with_the_extra_for_the_families_it_runs(
    setting, device, family, available, runtime, reason
):
    label = "SDXL" if family == "sdxl" else ""
    choice = choose_runtime(setting, device, family, available=available, family_label=label)
    assert choice.runtime == runtime
    assert choice.reason.startswith(reason)


def test_auto_takes_openvino_only_where_its_conversion_can_be_kept():
    choice = choose_runtime("auto", "cpu", "sd", available=True, kept=False)
    assert choice.runtime == "torch"
    assert choice.reason.startswith("no folder to keep its conversion in")
    assert choose_runtime("openvino", "cpu", "sd", available=True, kept=False).runtime == (
        "openvino"
    )


@pytest.mark.parametrize("setting", ["auto", "openvino"])
def test_a_model_with_a_pytorch_setting_runs_on_pytorch(setting):
    choice = choose_runtime(setting, "cpu", "sd", available=True, torch_only="compile = true")
    assert choice == Choice("torch", "compile = true is a PyTorch setting")
