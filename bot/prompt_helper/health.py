"""``python -m bot check``'s line for the prompt helper: one tiny chat completion, which
proves the address, the model's name and the key at once."""

from __future__ import annotations

from bot.prompt_helper.client import ChatClient, Message
from bot.prompt_helper.errors import HelperRefused, HelperTimeout, HelperUnavailable
from bot.settings import LoadedSettings

ITEM = "prompt helper"


async def probe(loaded: LoadedSettings) -> tuple[bool, str, str | None] | None:
    """(ok, what happened, the fix) for a helper that is on; None when it is off."""
    settings = loaded.settings.prompt_helper
    if not settings.enabled:
        return None
    key = loaded.secrets.prompt_helper_key
    client = ChatClient(
        settings.base_url,
        settings.model,
        api_key=key.get_secret_value() if key else None,
        timeout=settings.timeout_seconds,
        temperature=0,
    )
    fix = (
        "check prompt_helper.base_url and model, and the key in "
        f"${settings.api_key_env} (or the secrets file) if the server wants one"
    )
    try:
        await client.complete([Message("user", "Say OK.")], max_tokens=8)
    except HelperRefused:
        pass  # it answered: an empty or declining answer to this still proves the way there
    except HelperTimeout:
        return False, f"no answer in {settings.timeout_seconds:g} s", fix
    except HelperUnavailable as err:
        return False, err.detail or err.user_message, fix
    finally:
        await client.close()
    return True, f"{settings.model} answers at {settings.base_url}", None
