"""Wildcards: ``__animal__`` becomes one line of ``animal.txt`` in the owner's folder, picked
by the job's seed so the same seed picks the same line. A picked line may name further
wildcards, a few levels deep; names are letters, digits, ``-`` and ``_`` only, and a file is
read only from that folder itself (no paths, no links out of it)."""

from __future__ import annotations

import random
import re
from pathlib import Path

from bot.prompting.errors import N_, PromptError

NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_)){0,63}"
WILDCARD = re.compile(f"__({NAME})__")
MAX_DEPTH = 3  # wildcards inside picked lines
MAX_FILE_BYTES = 256 * 1024
MAX_LINES = 10_000
MAX_PICKS = 50  # wildcards in one prompt, nested ones included
MAX_LENGTH = 6000  # the text after replacing


class Wildcards:
    """The lists in one folder; None (not configured) refuses any ``__name__``."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder.resolve() if folder is not None else None
        self._lines: dict[tuple[str, int, int], tuple[str, ...]] = {}

    def names(self, text: str) -> list[str]:
        return [match[1] for match in WILDCARD.finditer(text)]

    def replace(self, text: str, seed: int) -> str:
        """``text`` with each wildcard replaced by a line its seed picks."""
        if WILDCARD.search(text) is None:
            return text
        chooser = random.Random(seed)
        picks = 0
        for depth in range(MAX_DEPTH + 1):
            if WILDCARD.search(text) is None:
                return text
            if depth == MAX_DEPTH:
                break

            def pick(match: re.Match[str]) -> str:
                nonlocal picks
                picks += 1
                if picks > MAX_PICKS:
                    raise PromptError(
                        f"__{match[1]}__", N_("use at most {most} wildcards"), most=MAX_PICKS
                    )
                return chooser.choice(self.lines(match[1]))

            text = WILDCARD.sub(pick, text)
            if len(text) > MAX_LENGTH:
                raise PromptError(
                    "__",
                    N_("the wildcards make the prompt longer than {most} characters"),
                    most=MAX_LENGTH,
                )
        raise PromptError(
            "__", N_("wildcards name wildcards more than {depth} levels deep"), depth=MAX_DEPTH
        )

    def lines(self, name: str) -> tuple[str, ...]:
        """The usable lines of ``name``'s file: stripped, without blanks and # comments."""
        field = f"__{name}__"
        if self.folder is None:
            raise PromptError(field, N_("wildcards aren't set up on this bot"))
        if re.fullmatch(NAME, name) is None:
            raise PromptError(field, N_("there is no such wildcard list"))
        path = (self.folder / f"{name}.txt").resolve()
        if path.parent != self.folder or not path.is_file():
            raise PromptError(field, N_("there is no such wildcard list"))
        stat = path.stat()
        key = (name, stat.st_mtime_ns, stat.st_size)  # an edited list is read again
        if key in self._lines:
            return self._lines[key]
        if stat.st_size > MAX_FILE_BYTES:
            raise PromptError(field, N_("its list is too large to use"))
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise PromptError(field, N_("its list can't be read")) from err
        found = tuple(
            line.strip()
            for line in raw.splitlines()[:MAX_LINES]
            if line.strip() and not line.lstrip().startswith("#")
        )
        if not found:
            raise PromptError(field, N_("its list is empty"))
        self._lines = {key: found}  # only the latest list: bounded memory
        return found
