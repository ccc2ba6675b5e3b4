"""Where the engine runs: a device asked for by name that the machine lacks stops start-up,
naming the fix; the precision "auto" picks from what the device reports; the CPU threads."""

from __future__ import annotations

import logging
import os

import pytest
import torch

from engine import ProviderConfigError
from engine.local.device import _log_choice, cpu_precision, cpu_threads, pick_dtype
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


def test_auto_precision_on_a_gpu_is_the_familys_half(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert pick_dtype("auto", cuda, "bfloat16") is torch.bfloat16  # transformers overflow fp16
    assert pick_dtype("auto", cuda, "float16") is torch.float16  # the UNet families
    assert pick_dtype("float32", cuda, "bfloat16") is torch.float32  # a setting wins
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)  # pre-Ampere
    assert pick_dtype("auto", cuda, "bfloat16") is torch.float16


X86 = {"architecture": "x86_64", "avx2": True, "avx512_f": True, "num_physical_cores": 8}
ARM = {"architecture": "aarch64", "neon": True, "fp16_arith": True, "num_physical_cores": 8}


@pytest.mark.parametrize(
    ("capabilities", "dtype", "named"),
    [
        (X86 | {"avx512_bf16": True}, torch.bfloat16, "avx512_bf16"),  # Zen 4, Cooper Lake
        (X86 | {"amx_bf16": True, "amx_tile": True}, torch.bfloat16, "amx_bf16"),  # Xeon 4th gen
        (X86 | {"avx512_bf16": False, "avx512_vnni": True}, torch.float32, "no native bf16"),
        ({"architecture": "x86_64", "avx2": True}, torch.float32, "no native bf16"),  # Zen 3
        (ARM | {"bf16": True, "i8mm": True}, torch.bfloat16, "(bf16)"),  # Graviton 3, Apple M2
        (ARM | {"sve": True, "sve_bf16": True}, torch.bfloat16, "sve_bf16"),
        (ARM | {"bf16": False}, torch.float32, "no native bf16"),  # Graviton 2, Apple M1
        ({}, torch.float32, "no native bf16"),
    ],
)
def test_auto_precision_on_a_cpu_is_bf16_where_it_runs_natively(
    capabilities: dict[str, object], dtype: torch.dtype, named: str
) -> None:
    precision = cpu_precision(capabilities)
    assert precision.dtype is dtype
    assert named in precision.reason
    cpu = torch.device("cpu")
    for half in ("float16", "bfloat16"):  # the family's GPU precision plays no part
        assert pick_dtype("auto", cpu, half, capabilities) is dtype
    assert pick_dtype("float32", cpu, "bfloat16", capabilities) is torch.float32


def test_the_cpu_choice_is_logged_once_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    capabilities = {"architecture": "riscv64", "bf16": True}
    cpu = torch.device("cpu")
    _log_choice.cache_clear()
    with caplog.at_level(logging.INFO, "engine.local.device"):
        for half in ("float16", "bfloat16", "float16"):
            pick_dtype("auto", cpu, half, capabilities)
    [line] = [r.getMessage() for r in caplog.records]
    assert "bfloat16" in line and "riscv64 CPU reports native bf16 (bf16)" in line


@pytest.mark.parametrize(
    ("physical", "usable", "threads"),
    [(2, 2, 2), (8, 16, 8), (32, 4, 4), (0, 6, 6), (0, None, 1)],
    ids=["this-machine", "smt-siblings-left-idle", "container-cpuset", "unreported", "nothing"],
)
def test_one_thread_per_physical_core_within_the_cpus_this_process_may_use(
    physical: int, usable: int | None, threads: int
) -> None:
    assert cpu_threads({"num_physical_cores": physical}, usable) == threads


@pytest.mark.parametrize(("setting", "expected"), [(0, None), (1, 1)])
async def test_a_cpu_provider_sets_its_threads_at_start_and_logs_them(
    make_local, caplog: pytest.LogCaptureFixture, setting: int, expected: int | None
) -> None:
    provider = make_local(threads=setting)
    before = torch.get_num_threads()
    try:
        with caplog.at_level(logging.INFO, "engine.local.device"):
            await provider.start()
        seen = await provider._call(torch.get_num_threads)  # on the thread that runs the jobs
    finally:
        await provider.close()
        torch.set_num_threads(before)
    wanted = expected or cpu_threads(torch.cpu.get_capabilities(), len(os.sched_getaffinity(0)))
    assert seen == wanted
    [line] = [r.getMessage() for r in caplog.records if "intra-op" in r.getMessage()]
    assert line.startswith(f"CPU: {wanted} intra-op threads")
