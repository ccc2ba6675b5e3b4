"""The prompt helper: a chat model behind any OpenAI-compatible endpoint that enhances,
translates and shortens prompts, off by default and never in the way of a plain /imagine."""

from bot.prompt_helper.errors import (
    HelperBusy,
    HelperError,
    HelperRefused,
    HelperTimeout,
    HelperUnavailable,
)
from bot.prompt_helper.helper import PromptHelper
from bot.prompt_helper.tasks import Task

__all__ = [
    "HelperBusy",
    "HelperError",
    "HelperRefused",
    "HelperTimeout",
    "HelperUnavailable",
    "PromptHelper",
    "Task",
]
