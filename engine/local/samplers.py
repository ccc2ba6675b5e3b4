"""Samplers by their AUTOMATIC1111 names, mapped to diffusers schedulers."""

from __future__ import annotations

from typing import Any

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    DPMSolverSinglestepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

KARRAS = {"use_karras_sigmas": True}
SDE = {"algorithm_type": "sde-dpmsolver++"}

# name -> (scheduler class, options over the pipeline's own scheduler config)
SAMPLERS: dict[str, tuple[Any, dict[str, Any]]] = {
    "Euler": (EulerDiscreteScheduler, {}),
    "Euler a": (EulerAncestralDiscreteScheduler, {}),
    "Heun": (HeunDiscreteScheduler, {}),
    "LMS": (LMSDiscreteScheduler, {}),
    "LMS Karras": (LMSDiscreteScheduler, KARRAS),
    "DPM2": (KDPM2DiscreteScheduler, {}),
    "DPM2 Karras": (KDPM2DiscreteScheduler, KARRAS),
    "DPM2 a": (KDPM2AncestralDiscreteScheduler, {}),
    "DPM2 a Karras": (KDPM2AncestralDiscreteScheduler, KARRAS),
    "DPM++ 2M": (DPMSolverMultistepScheduler, {}),
    "DPM++ 2M Karras": (DPMSolverMultistepScheduler, KARRAS),
    "DPM++ 2M SDE": (DPMSolverMultistepScheduler, SDE),
    "DPM++ 2M SDE Karras": (DPMSolverMultistepScheduler, {**SDE, **KARRAS}),
    "DPM++ SDE": (DPMSolverSinglestepScheduler, {}),
    "DPM++ SDE Karras": (DPMSolverSinglestepScheduler, KARRAS),
    "DDIM": (DDIMScheduler, {}),
    "PLMS": (PNDMScheduler, {}),
    "UniPC": (UniPCMultistepScheduler, {}),
}

# Fewer steps than this and the scheduler fails (PLMS warms up with four).
MIN_STEPS = {"PLMS": 4}


def make_scheduler(name: str, base_config: Any) -> SchedulerMixin:
    """A scheduler for ``name``, built from the pipeline's own config (betas, timestep
    spacing, prediction type) so the model's training settings carry over."""
    cls, options = SAMPLERS[name]
    scheduler: SchedulerMixin = cls.from_config(base_config, **options)
    return scheduler
