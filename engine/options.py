"""Provider options: a kind's own settings model, validated into one ProviderConfigError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from engine.errors import ProviderConfigError

M = TypeVar("M", bound=BaseModel)


def parse_options(cls: type[M], options: Mapping[str, Any], *, kind: str, whole: str) -> M:
    """``whole`` names the key a problem with the options as a whole is reported under."""
    try:
        return cls.model_validate(dict(options))
    except ValidationError as err:
        problem = err.errors()[0]
        key = ".".join(str(part) for part in problem["loc"]) or whole
        rule = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            rule = f"not a setting of the {kind} provider"
        raise ProviderConfigError(key, problem.get("input"), rule) from None
