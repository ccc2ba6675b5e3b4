"""The prompt helper as the bot uses it: a task on a member's text, within their rate and the
server's concurrency, its answer made into a clean prompt."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from bot.prompt_helper.client import DECLINED, EMPTY, ChatClient, Message
from bot.prompt_helper.errors import HelperRefused, HelperTimeout
from bot.prompt_helper.limits import MemberRate
from bot.prompt_helper.sanitise import sanitised
from bot.prompt_helper.tasks import Task, instructions, needs_translation
from bot.settings import PromptHelperSettings

log = logging.getLogger(__name__)

# How instruction-tuned models open a refusal: the first words only, so a prompt that merely
# contains "sorry" passes.
_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry,? (but )?i\b|i (can ?not|can't|won't|am unable|'m unable)"
    r"|i'm not able|as an ai\b|i apologi[sz]e)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Helped:
    original: str
    text: str

    @property
    def changed(self) -> bool:
        return _folded(self.text) != _folded(self.original)


class PromptHelper:
    def __init__(
        self, settings: PromptHelperSettings, api_key: str | None, *, max_prompt: int
    ) -> None:
        self.settings = settings
        self.max_prompt = max_prompt
        self.client = ChatClient(
            settings.base_url,
            settings.model,
            api_key=api_key,
            timeout=settings.timeout_seconds,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
        )
        self.rate = MemberRate(settings.per_member_per_minute)
        self._slots = asyncio.Semaphore(settings.max_concurrent)

    async def close(self) -> None:
        await self.client.close()

    def english_only(self, provider: str, model: str) -> bool:
        listed = self.settings.english_only_models
        return model in listed or f"{provider}:{model}" in listed

    async def run(
        self, task: Task, text: str, *, user_id: int | None, limit: int | None = None
    ) -> Helped:
        """``task`` on ``text``; counted against ``user_id``'s rate when given. The answer is
        at most ``limit`` characters (the bot's prompt limit by default)."""
        text = " ".join(text.split())
        most = min(limit or self.max_prompt, self.max_prompt)
        if user_id is not None:
            self.rate.take(user_id)
        messages = [Message("system", instructions(task, most)), Message("user", text)]
        seconds = self.settings.timeout_seconds
        try:  # waiting for a free slot counts against the same time limit
            async with asyncio.timeout(seconds), self._slots:
                answer = await self.client.complete(messages)
        except TimeoutError:
            raise HelperTimeout(seconds=f"{seconds:g}") from None
        cleaned = sanitised(answer, most)
        if not cleaned:
            raise HelperRefused(why=EMPTY)
        if _REFUSAL.match(cleaned):
            log.info("The prompt helper declined a %s: %.120r", task.value, cleaned)
            raise HelperRefused(why=DECLINED)
        return Helped(text, cleaned)

    async def to_english(self, text: str) -> Helped | None:
        """``text`` in English where it looks like another language, else None (no call)."""
        if not needs_translation(text):
            return None
        return await self.run(Task.TRANSLATE, text, user_id=None)


def _folded(text: str) -> str:
    return " ".join(text.casefold().split()).strip(" .")
