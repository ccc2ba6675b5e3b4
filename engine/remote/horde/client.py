"""The Horde's refusals read by their return code (``{"message", "rc"}``, its exceptions.py):
most of its 403s are about the request or the account's kudos, not a wrong key."""

from __future__ import annotations

from engine.errors import (
    ContentRefused,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from engine.remote.http import Answer, RemoteClient

# rc: what it means for the member, after the Horde's own words
HINTS = {
    "KudosUpfront": (
        "a request this large needs kudos up front; ask for at most 1024×1024 and 50 steps, "
        "or the owner can use a key that holds kudos"
    ),
    "AnonForbidden": "the anonymous key may not do this; the owner has to set a key",
    "NoValidWorkers": "no worker can serve it now; pick another model or try later",
    "TooManySteps": "ask for fewer steps",
    "InvalidSize": "use a width and height that are multiples of 64",
    "UnsupportedSampler": "pick another sampler",
    "UnsupportedModel": "pick another model",
}
AUTH = frozenset({"InvalidAPIKey", "WrongCredentials"})
UNAVAILABLE = frozenset({"MaintenanceMode", "TimeoutIP", "TooManyNewIPs"})


class HordeClient(RemoteClient):
    def error_for(self, answer: Answer, retry_after: float | None = None) -> ProviderError:
        data = answer.json()
        if answer.status not in (400, 403) or not isinstance(data, dict):
            return super().error_for(answer, retry_after)
        rc = str(data.get("rc") or "")
        message = self.scrub(" ".join(str(data.get("message") or "").split())[:400]).rstrip(".")
        if rc in AUTH:
            return super().error_for(answer, retry_after)
        if rc == "CorruptPrompt":
            return ContentRefused(
                self.say(f"refused the prompt under the AI Horde's rules: {message}"),
                status=answer.status,
            )
        if rc in UNAVAILABLE:
            return ProviderUnavailable(self.say(f"is not taking requests now: {message}"))
        hint = f" ({HINTS[rc]})" if rc in HINTS else ""
        if not message and not hint:
            return super().error_for(answer, retry_after)
        words = message or f"answered {answer.status}"
        return ProviderRejected(
            self.say(f"refused the request: {words}{hint}"),
            messages=(message,) if message else (),
            status=answer.status,
        )
