"""A fake OpenAI-compatible chat-completions server on loopback (the shape of OpenAI's API
reference: ``POST /v1/chat/completions`` answering ``choices[0].message.content`` with a
``finish_reason``), built on the shared FakeApi: scripted answers, faults, every request kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.http_api import FakeApi, json_answer

PATH = "/v1/chat/completions"

# What the fake answers for a request's messages: a text, or a whole choice (a dict).
Reply = Callable[[list[dict[str, Any]]], str | dict[str, Any]]


def completion(choice: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": "fake-chat",
        "choices": [{"index": 0, **choice}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def said(text: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "message": {"role": "assistant", "content": text, "refusal": None},
        "finish_reason": finish_reason,
    }


class FakeChat(FakeApi):
    def __init__(self, reply: Reply | str = "a detailed prompt") -> None:
        super().__init__()
        self.reply: Reply = (lambda _messages: reply) if isinstance(reply, str) else reply
        self.route("POST", PATH, self._complete)

    @property
    def url(self) -> str:
        return f"{self.base}/v1"

    @property
    def asked(self) -> list[Any]:
        return [call.body for call in self.calls(PATH)]

    async def _complete(self, request: web.Request, body: Any) -> web.StreamResponse:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return json_answer({"error": {"message": "messages is required"}}, 400)
        answer = self.reply(body["messages"])
        return json_answer(completion(said(answer) if isinstance(answer, str) else answer))
