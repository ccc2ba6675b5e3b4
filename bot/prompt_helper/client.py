"""A chat-completions client for any OpenAI-compatible server: ``POST {base_url}/chat/
completions`` through the providers' one HTTP policy (a bounded body, timeouts, errors
scrubbed of the key, which goes only to the configured host), with refusals told apart."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from bot.i18n import N_
from bot.prompt_helper.errors import HelperRefused, HelperTimeout, HelperUnavailable
from engine.errors import ProviderError, ProviderTimeout
from engine.redact import scrub
from engine.remote.http import HttpPolicy, RemoteClient

log = logging.getLogger(__name__)

PATH = "chat/completions"  # joined to base_url, which carries the /v1
MAX_BODY_BYTES = 256 * 1024
CONNECT_SECONDS = 5.0

# The reasons a model's answer is no answer (catalogue keys; a cog translates them).
DECLINED = N_("the model declined")
FILTERED = N_("its content filter stopped it")
EMPTY = N_("its answer was empty")
UNREADABLE = N_("its answer couldn't be read")


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str


class ChatClient:
    """One long-lived HTTP client to the owner's chat server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 20.0,
        max_tokens: int = 400,
        temperature: float = 0.7,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._http = RemoteClient(
            "prompt helper",
            base_url,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
            # One retry for a dropped connection or a 5xx, inside the one overall deadline.
            policy=HttpPolicy(
                connect_timeout=min(CONNECT_SECONDS, timeout),
                read_timeout=timeout,
                max_retries=1,
                backoff_base=0.25,
                backoff_cap=1.0,
                max_body_bytes=MAX_BODY_BYTES,
            ),
            secrets=[api_key] if api_key else [],
        )

    async def close(self) -> None:
        await self._http.close()

    async def complete(self, messages: list[Message], *, max_tokens: int | None = None) -> str:
        """The assistant's text. Raises HelperTimeout past ``timeout`` seconds in all,
        HelperRefused for a refusal, a filtered or empty answer, HelperUnavailable otherwise."""
        body = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": self.temperature,
            "stream": False,
        }
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self._http.request("POST", PATH, json_body=body)
        except (TimeoutError, ProviderTimeout):
            raise HelperTimeout(seconds=f"{self.timeout:g}") from None
        except ProviderError as err:
            log.warning("The prompt helper failed: %s", err.user_message)
            raise HelperUnavailable(err.user_message) from None
        return _text_of(answer.json())


def _text_of(data: Any) -> str:
    """The first choice's text, as OpenAI's API reference shapes it; some servers send the
    content as a list of parts."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        log.warning("The prompt helper's server sent no choices: %s", scrub(repr(data)[:200]))
        raise HelperRefused(why=UNREADABLE)
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise HelperRefused(why=UNREADABLE)
    if choice.get("finish_reason") == "content_filter":
        raise HelperRefused(why=FILTERED)
    refusal = message.get("refusal")
    content = message.get("content")
    parts = content if isinstance(content, list) else []
    if (isinstance(refusal, str) and refusal.strip()) or any(
        isinstance(part, dict) and part.get("type") == "refusal" for part in parts
    ):
        raise HelperRefused(why=DECLINED)
    text = _content(content)
    if not text.strip():
        raise HelperRefused(why=EMPTY)
    return text


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""
