"""The AI Horde provider: crowd-sourced GPUs, usable with no key (see provider.py)."""

from engine.remote.horde.provider import HordeProvider, create

__all__ = ["HordeProvider", "create"]
