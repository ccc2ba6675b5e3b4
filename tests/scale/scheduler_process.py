"""A scheduler candidate alone in a process, for the leader fail-over test: prints "leading"
once it holds the lock, then dispatches until it is killed.

    python -m tests.scale.scheduler_process CONFIG   (secrets from the environment)
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot import settings as settings_module
from bot.runtime import open_runtime
from bot.scale.cluster import dispatcher_for


async def main(config: Path) -> None:
    loaded = settings_module.load(config)
    async with open_runtime(loaded) as runtime:
        assert runtime.transport is not None
        dispatcher = dispatcher_for(
            loaded,
            runtime.store,
            runtime.providers,
            runtime.transport,
            runtime.policies,
            origin="discord",
        )
        await dispatcher.start()
        await dispatcher.led.wait()
        print("leading", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
