"""What a GPU worker logs while Redis is away: one line when it goes, one when it is back, and
no tracebacks or unretrieved task exceptions in between."""

from __future__ import annotations

import asyncio

import pytest

from bot.jobs import JobStatus
from tests.scale.harness import Deploy, until
from tests.scale.servers import RedisServer
from tests.scale.test_dispatch import finished

pytestmark = pytest.mark.scale


async def test_two_redis_outages_log_two_lines_each(
    deploy: Deploy, redis_server: RedisServer
) -> None:
    async with deploy() as deployed:
        cluster = await deployed.start_cluster()
        deployed.start_worker()
        await deployed.wait_workers(1)
        for user in (1, 2, 3):
            ids = [(await deployed.submit(cluster, user_id=user)).job_id]
            await until(lambda ids=ids: finished(deployed, ids), 60, f"job {user} to finish")
            stored = await cluster.runtime.store.get(ids[0])
            assert stored is not None and stored.status is JobStatus.SUCCEEDED
            if user < 3:  # an outage after each of the first two
                redis_server.stop(kill=True)
                await asyncio.sleep(2)  # the worker polls Redis every second: it notices
                redis_server.start()
        log = deployed.worker_log()
        assert "Traceback" not in log, log
        assert "never retrieved" not in log, log

        async def back_twice() -> bool:
            return deployed.worker_log().count("Redis is back") >= 2

        await until(back_twice, 30, "the worker to say Redis is back, twice")
        log = deployed.worker_log()
        assert log.count("Redis is unreachable") == 2, log
        assert log.count("Redis is back") == 2, log
