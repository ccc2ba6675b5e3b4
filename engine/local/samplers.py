"""Samplers by the names members know (AUTOMATIC1111's for UNet families, "... (flow)" for
flow-matching ones), mapped to diffusers schedulers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

KARRAS = {"use_karras_sigmas": True}
SDE = {"algorithm_type": "sde-dpmsolver++"}

# name -> (diffusers scheduler class, options over the pipeline's own scheduler config)
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "LMS Karras": ("LMSDiscreteScheduler", KARRAS),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2 Karras": ("KDPM2DiscreteScheduler", KARRAS),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}),
    "DPM2 a Karras": ("KDPM2AncestralDiscreteScheduler", KARRAS),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", KARRAS),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", SDE),
    "DPM++ 2M SDE Karras": ("DPMSolverMultistepScheduler", {**SDE, **KARRAS}),
    "DPM++ SDE": ("DPMSolverSinglestepScheduler", {}),
    "DPM++ SDE Karras": ("DPMSolverSinglestepScheduler", KARRAS),
    "DDIM": ("DDIMScheduler", {}),
    "PLMS": ("PNDMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
}

# Fewer steps than this and the scheduler fails (PLMS warms up with four).
MIN_STEPS = {"PLMS": 4}


# Flow-matching families (SD 3.5, FLUX, Qwen-Image, Z-Image, Chroma, Sana): the schedulers that fit
# a velocity-predicting model, by names a member can tell apart.
FLOW_SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler (flow)": ("FlowMatchEulerDiscreteScheduler", {}),
    "Euler (flow) Karras": ("FlowMatchEulerDiscreteScheduler", KARRAS),
    "Euler (flow) beta": ("FlowMatchEulerDiscreteScheduler", {"use_beta_sigmas": True}),
}


def make_scheduler(sampler: tuple[str, Mapping[str, Any]], base_config: Any) -> SchedulerMixin:
    """A scheduler for a family's sampler, built from the pipeline's own config (betas, timestep
    spacing, prediction type, shift) so the model's training settings carry over."""
    import diffusers  # noqa: PLC0415 (the options and profiles are read without torch)

    name, options = sampler
    if name.startswith("FlowMatch") and base_config.get("use_flow_sigmas"):
        # A DPM-Solver in flow mode (Sana's) keeps the shift as flow_shift, which the flow
        # schedulers call shift; the same formula on both sides.
        options = {"shift": base_config.get("flow_shift", 1.0), **options}
    scheduler: SchedulerMixin = getattr(diffusers, name).from_config(base_config, **options)
    return scheduler
