"""The log set-up: the bot's own lines at the configured level, libraries' notices kept out."""

from __future__ import annotations

import logging
import os
import warnings
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# Their notices ("requires torchvision ... falling back", slow-processor hints) read like
# install instructions; their errors still reach the log. Set before they are imported,
# which is when they read it, so a command that never imports them pays nothing.
QUIET_LIBRARIES = {"TRANSFORMERS_VERBOSITY": "error", "DIFFUSERS_VERBOSITY": "error"}
# torchao, which diffusers imports with its quantizers, warns about kernels built for other
# GPUs and, through torch's pytree, about its own registrations.
QUIET_LOGGERS = ("transformers", "diffusers", "huggingface_hub", "torchao", "torch.utils._pytree")
MUTED = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)

warnings_log = logging.getLogger("py.warnings")


def configure(level: str | int) -> None:
    logging.basicConfig(level=level, format=FORMAT)
    for variable, value in QUIET_LIBRARIES.items():
        os.environ.setdefault(variable, value)
    for name in QUIET_LOGGERS:  # where one was imported already
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.showwarning = _log_warning


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A library's deprecation is for its developers: DEBUG; any other warning: WARNING."""
    level = logging.DEBUG if issubclass(category, MUTED) else logging.WARNING
    warnings_log.log(level, "%s: %s (%s:%d)", category.__name__, message, filename, lineno)
