"""SwarmUI (mcmonkeyprojects/SwarmUI) as a provider: its session, parameter list, WebSocket
generation route and saved outputs, as its docs/API.md and docs/APIRoutes/T2IAPI.md describe."""

from engine.remote.swarmui.provider import SwarmOptions, SwarmUIProvider, create

__all__ = ["SwarmOptions", "SwarmUIProvider", "create"]
